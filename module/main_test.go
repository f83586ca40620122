package module_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain stops the shared browser (sharedBrowser) once every test ran.
func TestMain(m *testing.M) {
	code := m.Run()
	stopSharedBrowser()
	os.Exit(code)
}

// browserServer is the one Chromium the browser tests of this process
// share (testdata/browser/server.mjs), started by the first of them:
// launching Chromium is a few seconds of each script otherwise. Every
// script opens contexts of its own in it, which share no cookies, storage
// or HSTS state, and closes them when it ends.
var browserServer struct {
	once sync.Once
	ws   string
	err  error
	cmd  *exec.Cmd
	in   io.WriteCloser
	done chan struct{}
}

// sharedBrowser returns the shared browser's Playwright endpoint, starting
// it on the first call; an error is the same for every later call.
func sharedBrowser(node, root string) (string, error) {
	b := &browserServer
	b.once.Do(func() { b.ws, b.err = startBrowserServer(node, root) })
	return b.ws, b.err
}

func startBrowserServer(node, root string) (string, error) {
	b := &browserServer
	cmd := exec.Command(node, filepath.Join(root, "module", "testdata", "browser", "server.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromiumPath)
	in, err := cmd.StdinPipe() // closed when this process ends: the server then stops too
	if err != nil {
		return "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting the shared browser: %v", err)
	}
	b.cmd, b.in, b.done = cmd, in, make(chan struct{})
	ready := make(chan string, 1)
	var printed strings.Builder
	var mu sync.Mutex
	go func() {
		defer close(b.done)
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if ws, ok := strings.CutPrefix(sc.Text(), "listening "); ok && !sent {
				ready <- ws
				sent = true
				continue
			}
			mu.Lock()
			fmt.Fprintln(&printed, sc.Text())
			mu.Unlock()
		}
		if !sent {
			close(ready)
		}
		_ = cmd.Wait()
	}()
	select {
	case ws, ok := <-ready:
		if ok {
			return ws, nil
		}
	case <-time.After(60 * time.Second):
		stopSharedBrowser()
	}
	mu.Lock()
	defer mu.Unlock()
	return "", fmt.Errorf("the shared browser (testdata/browser/server.mjs) did not start:\n%s", printed.String())
}

// stopSharedBrowser closes the shared browser, if one was started, and
// waits (a few seconds at most) for it to exit.
func stopSharedBrowser() {
	b := &browserServer
	if b.cmd == nil {
		return
	}
	_ = b.in.Close()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
	}
}
