package cognito_test

import (
	"bytes"
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

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
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
