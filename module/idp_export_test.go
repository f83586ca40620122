package module

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// MaintainOnce runs one pass of p's background upkeep, the purges of old
// records included.
func (p *Pool) MaintainOnce(ctx context.Context) { p.Upkeep(time.Second, zap.NewNop()).Once(ctx) }
