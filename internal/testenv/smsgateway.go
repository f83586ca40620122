package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/sms"
)

// SMSGateway is a real HTTP receiver on loopback standing in for a telecom
// gateway, which no test here can reach. It takes what Gatehouse's senders
// post, two shapes:
//
//   - a plain message {"to","kind","code","text"} (Sender, for pool tests);
//   - Cognito's custom sender event (the custom_sms_sender and
//     custom_email_sender triggers): triggerSource, request.code and
//     request.userAttributes (phone_number or email).
//
// It keeps every delivery it accepts, so a test reads a code off it as a
// person reads it off their phone.
type SMSGateway struct {
	URL string

	mu     sync.Mutex
	cond   *sync.Cond
	got    []Delivery
	status int
	delay  time.Duration
	bodies [][]byte
}

// Delivery is one message the gateway accepted.
type Delivery struct {
	// To is the phone number (or, from a custom email sender, the address).
	To, Kind, Code, Text string
	// TriggerSource is the custom sender event's, "" for a plain message.
	TriggerSource string
	// Header is the request's, for checking signatures.
	Header http.Header
}

// StartSMSGateway starts a gateway, stopped when the test ends.
func StartSMSGateway(t testing.TB) *SMSGateway {
	t.Helper()
	g := &SMSGateway{}
	g.cond = sync.NewCond(&g.mu)
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// SetStatus makes the gateway answer every request with status (0: 200)
// and keep nothing: a gateway that refuses.
func (g *SMSGateway) SetStatus(status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status = status
}

// SetDelay makes the gateway wait d before answering (and keeping) a
// message: a gateway slower than the sender's timeout.
func (g *SMSGateway) SetDelay(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.delay = d
}

func (g *SMSGateway) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	status, delay := g.status, g.delay
	g.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 && status != http.StatusOK {
		http.Error(w, "gateway refuses", status)
		return
	}
	var in struct {
		To, Kind, Code, Text string
		TriggerSource        string `json:"triggerSource"`
		Request              struct {
			Code           string            `json:"code"`
			UserAttributes map[string]string `json:"userAttributes"`
		} `json:"request"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	d := Delivery{To: in.To, Kind: in.Kind, Code: in.Code, Text: in.Text, TriggerSource: in.TriggerSource, Header: r.Header.Clone()}
	if in.TriggerSource != "" {
		d.Code = in.Request.Code
		d.To = in.Request.UserAttributes["phone_number"]
		if len(in.TriggerSource) > 17 && in.TriggerSource[:17] == "CustomEmailSender" {
			d.To = in.Request.UserAttributes["email"]
		}
	}
	g.mu.Lock()
	g.got = append(g.got, d)
	g.bodies = append(g.bodies, body)
	g.cond.Broadcast()
	g.mu.Unlock()
	// A custom sender's answer is the event back; its response is empty.
	w.Header().Set("Content-Type", "application/json")
	if in.TriggerSource != "" {
		_, _ = w.Write(body)
		return
	}
	_, _ = w.Write([]byte(`{}`))
}

// Deliveries returns what the gateway accepted, in order.
func (g *SMSGateway) Deliveries() []Delivery {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Delivery(nil), g.got...)
}

// Bodies returns the raw request bodies accepted, in order.
func (g *SMSGateway) Bodies() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.bodies...)
}

// Count returns how many messages went to to.
func (g *SMSGateway) Count(to string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, d := range g.got {
		if d.To == to {
			n++
		}
	}
	return n
}

// WaitFor returns the n-th delivery (from 1) to to, waiting up to timeout;
// it fails the test if none comes.
func (g *SMSGateway) WaitFor(t testing.TB, to string, n int, timeout time.Duration) Delivery {
	t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	defer timer.Stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		seen := 0
		for _, d := range g.got {
			if d.To == to {
				seen++
				if seen == n {
					return d
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no text message #%d to %s within %s (%d in all)", n, to, timeout, len(g.got))
		}
		g.cond.Wait()
	}
}

// Sender returns an sms.Sender that posts plain messages to the gateway,
// for tests of the pool below the trigger client.
func (g *SMSGateway) Sender() sms.Sender { return gatewaySender{url: g.URL} }

type gatewaySender struct{ url string }

func (s gatewaySender) Send(ctx context.Context, m *sms.Message) error {
	body, _ := json.Marshal(map[string]string{"to": m.To, "kind": m.Kind, "code": m.Code, "text": m.Text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sms gateway: status %d", resp.StatusCode)
	}
	return nil
}
