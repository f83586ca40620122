// Package srptest runs amazon-cognito-identity-js's own SRP client (node,
// cognito/srp/testdata/client.mjs) for tests: the client Cognito apps use,
// against which Gatehouse's server side is checked.
package srptest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// Node is one running client process; it serves any number of sign-ins,
// one request at a time.
type Node struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	next int
}

var (
	once    sync.Once
	running *Node
	skip    string
	startEr error
)

// Start returns the shared client process, starting it on first use. It
// skips the test when node or the npm package is missing, and fails it
// instead under CI=true.
func Start(t testing.TB) *Node {
	t.Helper()
	once.Do(func() { running, startEr = start() })
	if skip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(skip + "; CI=true, so this is a failure, not a skip")
		}
		t.Skip(skip)
	}
	if startEr != nil {
		t.Fatal(startEr)
	}
	return running
}

func start() (*Node, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		skip = "the SRP client tests need node"
		return nil, nil
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	if _, err := os.Stat(filepath.Join(root, "node_modules", "amazon-cognito-identity-js", "package.json")); err != nil {
		skip = "the SRP client tests need node_modules/amazon-cognito-identity-js (npm ci at the repository root)"
		return nil, nil
	}
	cmd := exec.Command(node, filepath.Join(root, "cognito", "srp", "testdata", "client.mjs"))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	return &Node{cmd: cmd, in: in, out: sc}, nil
}

type reply struct {
	ID        string `json:"id"`
	A         string `json:"A"`
	Signature string `json:"signature"`
	Timestamp string `json:"timestamp"`
	Error     string `json:"error"`
}

func (n *Node) call(req map[string]string) (*reply, error) {
	b, _ := json.Marshal(req)
	if _, err := n.in.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	if !n.out.Scan() {
		return nil, errors.New("srptest: the node client ended")
	}
	var r reply
	if err := json.Unmarshal(n.out.Bytes(), &r); err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, fmt.Errorf("srptest: node: %s", r.Error)
	}
	return &r, nil
}

// SignIn is one client sign-in in progress.
type SignIn struct {
	n        *Node
	id       string
	PoolName string
	// A is SRP_A as the library sends it.
	A string
}

// Begin makes the library's A for a pool name.
func (n *Node) Begin(poolName string) (*SignIn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next++
	id := strconv.Itoa(n.next)
	r, err := n.call(map[string]string{"op": "start", "id": id, "poolName": poolName})
	if err != nil {
		return nil, err
	}
	return &SignIn{n: n, id: id, PoolName: poolName, A: r.A}, nil
}

// Claim is the library's answer to PASSWORD_VERIFIER.
type Claim struct {
	Signature, Timestamp string
}

// Finish signs the challenge (SRP_B, SALT, SECRET_BLOCK, USER_ID_FOR_SRP)
// with the password, as CognitoUser does; timestamp "" takes the library's
// clock.
func (s *SignIn) Finish(userID, password, b, salt, secretBlock, timestamp string) (*Claim, error) {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	r, err := s.n.call(map[string]string{"op": "finish", "id": s.id, "userId": userID, "password": password,
		"B": b, "salt": salt, "secretBlock": secretBlock, "timestamp": timestamp})
	if err != nil {
		return nil, err
	}
	return &Claim{Signature: r.Signature, Timestamp: r.Timestamp}, nil
}
