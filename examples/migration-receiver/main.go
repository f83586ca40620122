// Command migration-receiver is a user migration hook for Gatehouse's lazy
// migration: the pool POSTs Cognito's UserMigration event for a login it
// does not know, and this receiver answers from an old system, here a CSV
// table of bcrypt hashes (email,bcrypt hash[,given name]). Written as a
// Cognito user migration Lambda is: the event in, the event with
// "response" filled out; the HTTP glue is the signature check and the
// deny shape.
//
//	go run ./examples/migration-receiver -users old-users.csv
//
// with, in the pool's Caddyfile block,
//
//	trigger user_migration http://127.0.0.1:8082/ { secret {env.MIGRATION_SECRET} }
//
// and the same whsec_ secret in MIGRATION_SECRET for this program.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8082", "address to serve on (port 0: any; the address is printed)")
	users := flag.String("users", "old-users.csv", "the old system: a CSV of email,bcrypt hash[,given name]")
	flag.Parse()
	secret, err := parseSecret(os.Getenv("MIGRATION_SECRET"))
	if err != nil {
		log.Fatal("MIGRATION_SECRET: ", err)
	}
	old, err := loadOldSystem(*users)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening", ln.Addr().String())
	srv := &http.Server{Handler: &receiver{secret: secret, old: old, seen: map[string]time.Time{}}, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// oldUser is one row of the old system.
type oldUser struct {
	hash      []byte
	givenName string
}

// loadOldSystem reads the CSV; addresses compare case-insensitively.
func loadOldSystem(path string) (map[string]oldUser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]oldUser{}
	for i, row := range rows {
		if len(row) < 2 {
			return nil, fmt.Errorf("%s: line %d: want email,bcrypt hash[,given name]", path, i+1)
		}
		u := oldUser{hash: []byte(row[1])}
		if len(row) > 2 {
			u.givenName = row[2]
		}
		out[strings.ToLower(strings.TrimSpace(row[0]))] = u
	}
	return out, nil
}

// event is the part of Cognito's Lambda event this hook reads; the rest
// is answered back as it came.
type event struct {
	Version       string          `json:"version"`
	TriggerSource string          `json:"triggerSource"`
	Region        string          `json:"region"`
	UserPoolID    string          `json:"userPoolId"`
	UserName      string          `json:"userName"`
	CallerContext json.RawMessage `json:"callerContext"`
	Request       struct {
		Password       string            `json:"password"`
		ValidationData map[string]string `json:"validationData"`
		ClientMetadata map[string]string `json:"clientMetadata"`
	} `json:"request"`
	Response migrationResponse `json:"response"`
}

type migrationResponse struct {
	UserAttributes  map[string]string `json:"userAttributes,omitempty"`
	FinalUserStatus string            `json:"finalUserStatus,omitempty"`
	MessageAction   string            `json:"messageAction,omitempty"`
}

type receiver struct {
	secret []byte
	old    map[string]oldUser

	mu   sync.Mutex
	seen map[string]time.Time // webhook-ids answered, against replays
}

// tolerance is how old a signed message may be (Standard Webhooks').
const tolerance = 5 * time.Minute

func (h *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	if err := h.verify(r.Header, body, time.Now()); err != nil {
		// Not the pool: say nothing of the old system.
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	u, known := h.old[strings.ToLower(strings.TrimSpace(ev.UserName))]
	switch ev.TriggerSource {
	case "UserMigration_Authentication":
		// bcrypt's compare takes as long for a wrong password as a right
		// one; an unknown login is compared against nothing, which the
		// pool's answer hides (a refusal is its wrong password).
		if !known || bcrypt.CompareHashAndPassword(u.hash, []byte(ev.Request.Password)) != nil {
			deny(w, "Bad password")
			return
		}
		ev.Response.FinalUserStatus = "CONFIRMED"
	case "UserMigration_ForgotPassword":
		if !known {
			deny(w, "Bad user")
			return
		}
		ev.Response.FinalUserStatus = "RESET_REQUIRED"
	default:
		deny(w, "not a migration event")
		return
	}
	ev.Response.UserAttributes = map[string]string{"email": strings.ToLower(strings.TrimSpace(ev.UserName)), "email_verified": "true"}
	if u.givenName != "" {
		ev.Response.UserAttributes["given_name"] = u.givenName
	}
	ev.Response.MessageAction = "SUPPRESS"
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ev)
}

// deny refuses as a Lambda that throws: the pool answers the sign-in as a
// wrong password.
func deny(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// verify is the Standard Webhooks check: the signature over
// "id.timestamp.body", a timestamp within tolerance, an id not seen
// before.
func (h *receiver) verify(hd http.Header, body []byte, now time.Time) error {
	id, ts, sigs := hd.Get("webhook-id"), hd.Get("webhook-timestamp"), hd.Get("webhook-signature")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil || sigs == "" {
		return errors.New("missing or bad headers")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("stale timestamp")
	}
	m := hmac.New(sha256.New, h.secret)
	fmt.Fprintf(m, "%s.%s.", id, ts)
	m.Write(body)
	want := m.Sum(nil)
	ok := false
	for _, sig := range strings.Fields(sigs) {
		if b64, found := strings.CutPrefix(sig, "v1,"); found {
			got, err := base64.StdEncoding.DecodeString(b64)
			ok = ok || err == nil && hmac.Equal(got, want)
		}
	}
	if !ok {
		return errors.New("signature does not match")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, at := range h.seen {
		if now.Sub(at) > 2*tolerance {
			delete(h.seen, k)
		}
	}
	if _, dup := h.seen[id]; dup {
		return errors.New("replayed")
	}
	h.seen[id] = now
	return nil
}

// parseSecret reads a Standard Webhooks secret: whsec_ and base64.
func parseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New("want whsec_ and the base64 of the key")
	}
	return base64.StdEncoding.DecodeString(rest)
}
