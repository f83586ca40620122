package testenv

import (
	"fmt"
	"net"
	"testing"
)

func TestFreePortHandsOutDistinctPortsOutsideTheEphemeralRange(t *testing.T) {
	low, high := portRange()
	seen := map[int]bool{}
	for range 300 {
		port := FreePort(t)
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
		if port < low || port >= high {
			t.Fatalf("port %d outside [%d, %d)", port, low, high)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("binding port %d, which FreePort returned: %v", port, err)
		}
		l.Close()
	}
}

// In a window of three ports with the middle one bound elsewhere, pickPort
// returns the outer two, once each, and then says there is none left.
func TestPickPortSkipsBoundAndHandedOutPorts(t *testing.T) {
	low, _ := portRange()
	w := low - 100 // below FreePort's range, so the other test cannot take these
	busy, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", w+1))
	if err != nil {
		t.Skipf("port %d is taken already: %v", w+1, err)
	}
	defer busy.Close()
	handedOut.Lock() // forget an earlier run's picks (go test -count)
	for p := w; p < w+3; p++ {
		delete(handedOut.ports, p)
	}
	handedOut.Unlock()
	got := map[int]bool{}
	for range 2 {
		p, err := pickPort(w, w+3)
		if err != nil {
			t.Fatalf("ports %d and %d should be free: %v", w, w+2, err)
		}
		got[p] = true
	}
	if !got[w] || !got[w+2] {
		t.Fatalf("got ports %v, want %d and %d", got, w, w+2)
	}
	if p, err := pickPort(w, w+3); err == nil {
		t.Fatalf("a third port %d from a window with none left", p)
	}
}
