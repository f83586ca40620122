package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/mail"
	"github.com/gatehouse-auth/gatehouse/middleware"
	"github.com/gatehouse-auth/gatehouse/signing"
	"github.com/gatehouse-auth/gatehouse/sms"
	"github.com/gatehouse-auth/gatehouse/store/sqlite/sqlitetest"
)

// histograms gathers reg's histograms named prefix... as "name{v1,v2}" -> sample count.
func histograms(t *testing.T, reg *prometheus.Registry, prefix string) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil && strings.HasPrefix(mf.GetName(), prefix) {
				got[key(mf.GetName(), m)] = h.GetSampleCount()
			}
		}
	}
	return got
}

// A real store's operations are timed under their method's name, once
// each, and an unknown name as "other"; an operation never run has no
// series.
func TestStoreOperationsTimed(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := On(reg).Pool("main")
	s := sqlitetest.Open(t, "")
	s.SetObserver(p.StoreOperation)
	if _, err := s.UserByID(t.Context(), "nobody"); err == nil {
		t.Fatal("found nobody")
	}
	if _, err := s.UserByEmail(t.Context(), "nobody@example.com"); err == nil {
		t.Fatal("found nobody")
	}
	if _, err := s.UserByID(t.Context(), "nobody"); err == nil {
		t.Fatal("found nobody")
	}
	p.StoreOperation("DropEverything", time.Millisecond)
	got := histograms(t, reg, "gatehouse_store_")
	want := map[string]uint64{
		"gatehouse_store_operation_duration_seconds{UserByID,main}":    2,
		"gatehouse_store_operation_duration_seconds{UserByEmail,main}": 1,
		"gatehouse_store_operation_duration_seconds{other,main}":       1,
	}
	if len(got) != len(want) {
		t.Errorf("histograms %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
}

// Mail and text messages are counted by kind and outcome, a deadline or a
// network timeout as "timeout", and timed; a kind outside the fixed sets
// is "other".
func TestSendsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := On(reg).Pool("main")
	netTimeout := &net.OpError{Op: "dial", Err: timeoutErr{}}
	p.MailSent(mail.KindVerifyEmail, 10*time.Millisecond, nil)
	p.MailSent(mail.KindVerifyEmail, time.Second, fmt.Errorf("sending: %w", context.DeadlineExceeded))
	p.MailSent(mail.KindResetPassword, time.Millisecond, errors.New("550 refused"))
	p.MailSent(mail.KindResetPassword, time.Millisecond, netTimeout)
	p.MailSent("someone@example.com", time.Millisecond, nil)
	p.TextSent(sms.KindMFACode, time.Millisecond, nil)
	wantCounts(t, reg, map[string]float64{
		"gatehouse_mails_total{verify_email,sent,main}":           1,
		"gatehouse_mails_total{verify_email,timeout,main}":        1,
		"gatehouse_mails_total{reset_password,failed,main}":       1,
		"gatehouse_mails_total{reset_password,timeout,main}":      1,
		"gatehouse_mails_total{other,sent,main}":                  1,
		"gatehouse_mails_total{invitation,sent,main}":             0,
		"gatehouse_text_messages_total{mfa_code,sent,main}":       1,
		"gatehouse_text_messages_total{verify_phone,failed,main}": 0,
	})
	h := histograms(t, reg, "gatehouse_")
	if h["gatehouse_mail_send_duration_seconds{main}"] != 5 || h["gatehouse_text_message_send_duration_seconds{main}"] != 1 {
		t.Errorf("send histograms %v", h)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

// Claims refreshes are counted by result, an unknown one as "other".
func TestClaimsRefreshesCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := On(reg).Pool("main")
	p.ClaimsRefreshed(middleware.ClaimsRefreshOK)
	p.ClaimsRefreshed(middleware.ClaimsRefreshOK)
	p.ClaimsRefreshed(middleware.ClaimsRefreshFailed)
	p.ClaimsRefreshed("exploded")
	wantCounts(t, reg, map[string]float64{
		"gatehouse_claims_refreshes_total{main,ok}":     2,
		"gatehouse_claims_refreshes_total{main,failed}": 1,
		"gatehouse_claims_refreshes_total{main,ended}":  0,
		"gatehouse_claims_refreshes_total{main,other}":  1,
	})
}

// The signing keys' ages are read from the key set at each scrape: the
// current key's age per algorithm, back near 0 after a rotation; a later
// config's set of the same pool replaces the earlier one.
func TestSigningKeyAges(t *testing.T) {
	reg := prometheus.NewPedanticRegistry() // as Caddy's
	p := On(reg).Pool("main")
	now := time.Now().Add(-time.Hour) // the first keys were made an hour ago
	clock := func() time.Time { return now }
	s := sqlitetest.Open(t, "")
	keys, err := signing.Open(t.Context(), s, signing.Policy{Algs: []string{signing.RS256}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	p.SigningKeys(keys)
	ages := func() map[string]float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() == "gatehouse_signing_key_age_seconds" {
				for _, m := range mf.GetMetric() {
					got[key(mf.GetName(), m)] = m.GetGauge().GetValue()
				}
			}
		}
		return got
	}
	got := ages()
	if len(got) != 2 {
		t.Fatalf("ages %v, want ES256 and RS256", got)
	}
	for k, age := range got {
		if age < 3600 || age > 3600+60 {
			t.Errorf("%s = %v, want the age of a key made an hour ago", k, age)
		}
	}
	now = time.Now()
	if err := keys.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	got = ages()
	for _, alg := range []string{"ES256", "RS256"} {
		if age, ok := got["gatehouse_signing_key_age_seconds{"+alg+",main}"]; !ok || age < 0 || age > 60 {
			t.Errorf("%s's key, rotated just now: age %v (present %v)", alg, age, ok)
		}
	}
	// A reload's pool of the same name: one series per algorithm still.
	On(reg).Pool("main").SigningKeys(keys)
	if got := ages(); len(got) != 2 {
		t.Errorf("after a second config: %v", got)
	}
}
