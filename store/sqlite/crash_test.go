package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/store"
)

// crashWriterEnv, when set to a database path, makes TestCrashSafety (run
// alone in a child process) a writer that never stops: it creates users as
// fast as it can and reports each one, on file descriptor 3, only once the
// store has acknowledged it.
const crashWriterEnv = "GATEHOUSE_SQLITE_CRASH_WRITER"

// crashWriters is how many goroutines of one writer process write at once,
// and so how many writes may be in flight when it is killed.
const crashWriters = 4

// TestCrashSafety kills processes that are writing users with SIGKILL (no
// chance to roll back, close or checkpoint) and checks that the database
// keeps every user whose creation was acknowledged before the kill, that a
// surviving process sharing the file goes on writing (the dead one's locks
// are gone), and that the file passes SQLite's integrity and foreign key
// checks. Two rounds run on the same file, so the second starts from a
// file that went through a crash.
//
// SIGKILL stops the process, not the machine: what it proves is atomic,
// durable commits against the death of the writer. Power loss is the
// domain of synchronous=NORMAL in WAL mode (see dsn), which may lose the
// last commits but never corrupts the file.
func TestCrashSafety(t *testing.T) {
	if path := os.Getenv(crashWriterEnv); path != "" {
		crashWriter(t, path, os.Getenv(crashWriterEnv+"_NAME"))
		return
	}
	start := time.Now()
	path := t.TempDir() + "/crash.db"
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	acked := map[string]bool{} // user id -> its group membership was acknowledged too
	for round := range 2 {
		a := startCrashWriter(t, path, fmt.Sprintf("r%da", round))
		b := startCrashWriter(t, path, fmt.Sprintf("r%db", round))

		// Let both write, then kill a at a random moment of its loop.
		a.waitAcks(t, 200)
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		a.kill(t)

		// b must not be stuck behind anything a held.
		after := b.count()
		b.waitAcks(t, after+200)
		b.kill(t)

		for _, w := range []*crashProc{a, b} {
			for id, grouped := range w.acks() {
				acked[id] = grouped
			}
			t.Logf("round %d: writer %s acknowledged %d users before SIGKILL", round, w.name, len(w.acks()))
		}
		checkAfterCrash(t, path, acked)
	}
	t.Logf("%d acknowledged users, all there, in %s", len(acked), time.Since(start).Round(time.Millisecond))
}

// checkAfterCrash reopens the file as the next process would and checks it.
func checkAfterCrash(t *testing.T, path string, acked map[string]bool) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("reopening after the crash: %v", err)
	}
	defer s.Close()
	for _, pragma := range []string{"integrity_check", "foreign_key_check"} {
		rows, err := s.db.QueryContext(ctx, "PRAGMA "+pragma)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(vals...))
		}
		rows.Close()
		want := []string(nil)
		if pragma == "integrity_check" {
			want = []string{"ok"}
		}
		if !slices.Equal(out, want) {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, out, want)
		}
	}
	var missing []string
	for id, grouped := range acked {
		u, err := s.UserByID(ctx, id)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (%v)", id, err))
			continue
		}
		if u.Email != id+"@crash.example" {
			t.Errorf("user %s has email %q", id, u.Email)
		}
		if grouped && !slices.Equal(u.Groups, []string{"writers"}) {
			t.Errorf("user %s: groups %v, want the acknowledged [writers]", id, u.Groups)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Fatalf("%d of %d acknowledged users lost, e.g. %s", len(missing), len(acked), missing[0])
	}
	// Writes in flight at the kill may have committed unacknowledged; no
	// more than one per writing goroutine, two processes a round.
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if extra := total - len(acked); extra < 0 || extra > 2*crashWriters*2 {
		t.Errorf("%d users in the file, %d acknowledged: %d unexplained", total, len(acked), extra)
	}
}

// crashProc is one writer process and what it acknowledged.
type crashProc struct {
	name   string
	cmd    *exec.Cmd
	output bytes.Buffer
	done   chan struct{} // closed when its acknowledgements are all read

	mu      sync.Mutex
	grouped map[string]bool
	changed chan struct{}
}

func startCrashWriter(t *testing.T, path, name string) *crashProc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &crashProc{name: name, done: make(chan struct{}), grouped: map[string]bool{}, changed: make(chan struct{}, 1)}
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestCrashSafety$", "-test.count=1")
	p.cmd.Env = append(os.Environ(), crashWriterEnv+"="+path, crashWriterEnv+"_NAME="+name)
	p.cmd.ExtraFiles = []*os.File{w} // fd 3
	p.cmd.Stdout, p.cmd.Stderr = &p.output, &p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close() // the child holds the write end now; EOF comes when it dies
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
	go func() {
		defer close(p.done)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			kind, id, _ := strings.Cut(sc.Text(), " ")
			p.mu.Lock()
			switch kind {
			case "user":
				p.grouped[id] = false
			case "group":
				p.grouped[id] = true
			}
			p.mu.Unlock()
			select {
			case p.changed <- struct{}{}:
			default:
			}
		}
	}()
	return p
}

func (p *crashProc) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.grouped)
}

func (p *crashProc) acks() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.grouped)
}

// waitAcks waits until the writer acknowledged n users.
func (p *crashProc) waitAcks(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for p.count() < n {
		select {
		case <-p.changed:
		case <-p.done:
			t.Fatalf("writer %s stopped after %d users:\n%s", p.name, p.count(), p.output.String())
		case <-deadline:
			t.Fatalf("writer %s acknowledged %d users in 20s, want %d (stuck on a lock?)\n%s", p.name, p.count(), n, p.output.String())
		}
	}
}

// kill sends SIGKILL and waits until the process is gone and every
// acknowledgement it wrote has been read.
func (p *crashProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := p.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("writer %s: %v, want killed by SIGKILL\n%s", p.name, err, p.output.String())
	}
	<-p.done
}

// crashWriter is the child: it writes users until it is killed.
func crashWriter(t *testing.T, path, name string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	acks := os.NewFile(3, "acks")
	var mu sync.Mutex
	ack := func(kind, id string) {
		mu.Lock()
		defer mu.Unlock()
		// One write(2) per line, unbuffered: what the parent reads was
		// sent after the store returned.
		if _, err := io.WriteString(acks, kind+" "+id+"\n"); err != nil {
			os.Exit(3)
		}
	}
	var wg sync.WaitGroup
	for g := range crashWriters {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("%s-%d-%06d", name, g, i)
				u := &store.User{ID: id, Email: id + "@crash.example", PasswordHash: "x", Status: store.StatusConfirmed,
					Enabled: true, Attributes: map[string]string{"custom:pad": strings.Repeat("p", 200)}}
				if err := s.CreateUser(ctx, u); err != nil {
					fmt.Fprintln(os.Stderr, "create:", err)
					os.Exit(4)
				}
				ack("user", id)
				if err := s.AddToGroup(ctx, id, "writers"); err != nil {
					fmt.Fprintln(os.Stderr, "group:", err)
					os.Exit(4)
				}
				ack("group", id)
			}
		})
	}
	wg.Wait()
}
