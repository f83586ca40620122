package module

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// SetKeyClock makes f the clock of every pool's signing keys (creation,
// rotation, retirement), for tests that drive rotation; the returned
// function puts time.Now back.
func SetKeyClock(f func() time.Time) (restore func()) {
	keyClock.Store(&f)
	return func() { keyClock.Store(nil) }
}

// MaintainOnce runs one pass of p's background upkeep, the purges of old
// records included.
func (p *Pool) MaintainOnce(ctx context.Context) { p.Upkeep(time.Second, zap.NewNop()).Once(ctx) }
