package module

import "time"

// SetKeyClock makes f the clock of every pool's signing keys (creation,
// rotation, retirement), for tests that drive rotation; the returned
// function puts time.Now back.
func SetKeyClock(f func() time.Time) (restore func()) {
	keyClock.Store(&f)
	return func() { keyClock.Store(nil) }
}
