package testenv

import (
	"bufio"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartListening starts cmd, a test server (a node script) that prints
// "listening <address>" once it serves, and returns that address. The
// server is stopped with SIGTERM when the test ends; what it printed is in
// the failure when it exits or does not start within 20 s.
func StartListening(t testing.TB, what string, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", what, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	ready := make(chan string, 1)
	var printed strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "listening "); ok && !sent {
				ready <- addr
				sent = true
				continue
			}
			if !sent {
				fmt.Fprintln(&printed, sc.Text())
			}
		}
		if !sent {
			close(ready)
		}
	}()
	select {
	case addr, ok := <-ready:
		if !ok {
			t.Fatalf("%s exited:\n%s", what, printed.String())
		}
		return addr
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start within 20 s", what)
	}
	return ""
}
