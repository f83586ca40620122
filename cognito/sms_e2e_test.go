package cognito_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gatehouse-auth/gatehouse/cognito/sigv4"
	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/trigger"
)

// startSMSSite is startSite with a custom SMS sender posting to a real
// HTTP receiver that stands in for the gateway (none can be reached here).
func startSMSSite(t *testing.T, extra string) (*site, *testenv.SMSGateway) {
	t.Helper()
	gw := testenv.StartSMSGateway(t)
	s := startSite(t, fmt.Sprintf(`attribute phone_number
			trigger custom_sms_sender %s {
				secret %s
			}
			%s`, gw.URL, trigger.NewSecret(), extra))
	return s, gw
}

// smsBridge serves the mailed codes (/mail) and the texted ones (/sms)
// to a node script.
func smsBridge(t *testing.T, s *site, gw *testenv.SMSGateway) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/mail", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		_, _ = io.WriteString(w, s.smtp.WaitFor(t, r.URL.Query().Get("to"), n, 5*time.Second).Code(t))
	})
	mux.HandleFunc("/sms", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		_, _ = io.WriteString(w, gw.WaitFor(t, r.URL.Query().Get("to"), n, 5*time.Second).Code)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestAWSSDKSMS runs the AWS SDK for JavaScript v3 through what a pool
// with a custom SMS sender offers (testdata/sms.mjs).
func TestAWSSDKSMS(t *testing.T) {
	node, root := needNode(t, "@aws-sdk/client-cognito-identity-provider")
	s, gw := startSMSSite(t, "throttle off\n\t\t\tmfa optional")
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "sms.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ENDPOINT="+s.base, "BRIDGE="+smsBridge(t, s, gw), "PUBLIC_CLIENT="+publicApp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("sms.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())
	for _, d := range gw.Deliveries() {
		if !strings.HasPrefix(d.TriggerSource, "CustomSMSSender_") {
			t.Errorf("delivery with triggerSource %q", d.TriggerSource)
		}
	}
}

// signedCall sends an admin action to s signed with key (SigV4, as the
// AWS SDKs sign) and returns the status and answer.
func signedCall(t *testing.T, s *site, key *pool.NewAccessKey, action string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	r, err := http.NewRequest(http.MethodPost, s.base+"/", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-Amz-Target", target(action))
	r.Header.Set("Content-Type", amzJSON)
	sum := sha256.Sum256(b)
	if err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.SecretAccessKey},
		r, hex.EncodeToString(sum[:]), sigv4.Service, "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// TestAdminSMS: AdminCreateUser with DesiredDeliveryMediums ["SMS"]
// texts the temporary password (and mails nothing); an administrator
// marks a number verified and turns SMS codes on.
func TestAdminSMS(t *testing.T) {
	s, gw := startSMSSite(t, "throttle off")
	st, err := sqlite.Open(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	p, err := pool.New(t.Context(), st, pool.Config{Name: "default", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := p.CreateAccessKey(t.Context(), "sms tests", false)
	if err != nil {
		t.Fatal(err)
	}
	const phone = "+15555550100"
	st1, out := signedCall(t, s, key, "AdminCreateUser", map[string]any{"UserPoolId": poolID, "Username": "bob@example.com",
		"UserAttributes": []map[string]string{{"Name": "phone_number", "Value": phone}}, "DesiredDeliveryMediums": []string{"SMS"}})
	if st1 != http.StatusOK {
		t.Fatalf("AdminCreateUser by SMS: %d %v", st1, out)
	}
	d := gw.WaitFor(t, phone, 1, 5*time.Second)
	if d.TriggerSource != "CustomSMSSender_AdminCreateUser" || len(d.Code) < 12 {
		t.Fatalf("invitation delivery %+v", d)
	}
	if n := s.smtp.Count(); n != 0 {
		t.Errorf("an invitation by SMS mailed %d messages", n)
	}
	st1, out = signedCall(t, s, key, "AdminCreateUser", map[string]any{"UserPoolId": poolID, "Username": "cy@example.com",
		"DesiredDeliveryMediums": []string{"SMS"}})
	if st1 != http.StatusBadRequest || out["__type"] != "InvalidParameterException" {
		t.Fatalf("AdminCreateUser by SMS without a number: %d %v", st1, out)
	}

	ref := map[string]any{"UserPoolId": poolID, "Username": "bob@example.com"}
	st1, out = signedCall(t, s, key, "AdminSetUserMFAPreference", merge(ref, map[string]any{"SMSMfaSettings": map[string]any{"Enabled": true}}))
	if st1 != http.StatusBadRequest {
		t.Fatalf("SMS codes for an unverified number: %d %v", st1, out)
	}
	if st1, out = signedCall(t, s, key, "AdminUpdateUserAttributes", merge(ref, map[string]any{
		"UserAttributes": []map[string]string{{"Name": "phone_number_verified", "Value": "true"}}})); st1 != http.StatusOK {
		t.Fatalf("AdminUpdateUserAttributes phone_number_verified: %d %v", st1, out)
	}
	if st1, out = signedCall(t, s, key, "AdminSetUserMFAPreference", merge(ref, map[string]any{"SMSMfaSettings": map[string]any{"Enabled": true, "PreferredMfa": true}})); st1 != http.StatusOK {
		t.Fatalf("AdminSetUserMFAPreference SMS: %d %v", st1, out)
	}
	_, out = signedCall(t, s, key, "AdminGetUser", ref)
	if fmt.Sprint(out["UserMFASettingList"]) != "[SMS_MFA]" || out["PreferredMfaSetting"] != "SMS_MFA" {
		t.Fatalf("AdminGetUser: %v", out)
	}
}

// TestForgotPasswordBySMSAnswersAlike: ForgotPassword for a user whose
// reset code goes by SMS answers as for any address (the masked address
// asked about, medium EMAIL), as it does for an unknown one; the code
// goes to the phone, and ConfirmForgotPassword takes it.
func TestForgotPasswordBySMSAnswersAlike(t *testing.T) {
	s, gw := startSMSSite(t, "throttle off")
	st, err := sqlite.Open(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	p, err := pool.New(t.Context(), st, pool.Config{Name: "default", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	if err != nil {
		t.Fatal(err)
	}
	const phone, email, password = "+15555550100", "dee@example.com", "correct horse battery staple 1"
	u, err := p.CreateUser(t.Context(), pool.NewUser{Email: email, Password: password, Attributes: map[string]string{"phone_number": phone}})
	if err != nil {
		t.Fatal(err)
	}
	verified := true
	if _, err := p.UpdateAttributesByAdmin(t.Context(), u.ID, pool.AdminAttributes{PhoneVerified: &verified}); err != nil {
		t.Fatal(err)
	}
	ask := func(login string) any {
		st, _, out := s.call(t, "ForgotPassword", map[string]any{"ClientId": publicApp, "Username": login})
		if st != http.StatusOK {
			t.Fatalf("ForgotPassword(%s): %d %v", login, st, out)
		}
		return out["CodeDeliveryDetails"]
	}
	known, unknown := ask(email), ask("dan@example.com")
	if fmt.Sprint(known) != "map[AttributeName:email DeliveryMedium:EMAIL Destination:d***@e***]" || fmt.Sprint(known) != fmt.Sprint(unknown) {
		t.Fatalf("known %v, unknown %v", known, unknown)
	}
	d := gw.WaitFor(t, phone, 1, 5*time.Second)
	if d.TriggerSource != "CustomSMSSender_ForgotPassword" {
		t.Fatalf("delivery %+v", d)
	}
	if st, _, out := s.call(t, "ConfirmForgotPassword", map[string]any{"ClientId": publicApp, "Username": email,
		"ConfirmationCode": d.Code, "Password": "another horse battery staple 2"}); st != http.StatusOK {
		t.Fatalf("ConfirmForgotPassword with the texted code: %d %v", st, out)
	}
	if s.smtp.Count() != 0 || len(gw.Deliveries()) != 1 {
		t.Errorf("%d mails and %d texts, want 0 and 1", s.smtp.Count(), len(gw.Deliveries()))
	}
}

// TestIdentityJSSMS: amazon-cognito-identity-js answers SMS_MFA through
// its mfaRequired callback (testdata/identityjs_sms.mjs).
func TestIdentityJSSMS(t *testing.T) {
	node, root := needNode(t, "amazon-cognito-identity-js")
	s, gw := startSMSSite(t, "throttle off\n\t\t\tmfa optional")
	st, err := sqlite.Open(t.Context(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// A pool on the same store, texting through the same receiver, makes
	// the user: verified number, SMS codes on.
	p, err := pool.New(t.Context(), st, pool.Config{Name: "default", Hash: pool.HashParams{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
		Accounts: pool.AccountConfig{SMS: &pool.Texter{Sender: gw.Sender()}}})
	if err != nil {
		t.Fatal(err)
	}
	const phone, email, password = "+15555550100", "hedy@example.com", "correct horse battery staple 5"
	u, err := p.CreateUser(t.Context(), pool.NewUser{Email: email, Password: password, EmailVerified: true,
		Attributes: map[string]string{"phone_number": phone}})
	if err != nil {
		t.Fatal(err)
	}
	verified := true
	if _, err := p.UpdateAttributesByAdmin(t.Context(), u.ID, pool.AdminAttributes{PhoneVerified: &verified}); err != nil {
		t.Fatal(err)
	}
	if err := p.EnableVerifiedSMS(t.Context(), u.ID); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(root, "cognito", "testdata", "identityjs_sms.mjs"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ENDPOINT="+s.base, "BRIDGE="+smsBridge(t, s, gw), "POOL_ID="+poolID,
		"PUBLIC_CLIENT="+publicApp, "EMAIL="+email, "PASSWORD="+password, "PHONE="+phone)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "ALL OK") {
		t.Fatalf("identityjs_sms.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if d := gw.Deliveries(); len(d) != 1 || d[0].TriggerSource != "CustomSMSSender_Authentication" {
		t.Fatalf("deliveries %+v", d)
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
