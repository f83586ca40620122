package module

import (
	"sync"
	"time"
)

// clocks are the clocks registered by name for the reauth_clock option.
var clocks sync.Map // name -> func() time.Time

// RegisterClock makes now the clock a pool with `reauth_clock name` reads
// the time of its hosted pages' re-authentications from, so that a test
// running Caddy in its own process can move past the reauth_window without
// waiting. Registering a name again replaces its clock. Production
// configurations name none and use the system clock.
func RegisterClock(name string, now func() time.Time) {
	clocks.Store(name, now)
}

// clockNamed returns the clock registered as name, or nil (the system's)
// for "" or a name no longer registered.
func clockNamed(name string) func() time.Time {
	if name == "" {
		return nil
	}
	v, ok := clocks.Load(name)
	if !ok {
		return nil
	}
	return v.(func() time.Time)
}
