package usertype

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/store"
)

// TestTheAWSSDKReadsTheShapes serves these shapes as a Cognito endpoint
// would and reads them with the AWS SDK for JavaScript's own client: a
// field name the SDK does not know would come back empty, a date in the
// wrong encoding would not parse.
func TestTheAWSSDKReadsTheShapes(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("needs node")
	}
	root, _ := filepath.Abs("../..")
	if _, err := os.Stat(filepath.Join(root, "node_modules", "@aws-sdk", "client-cognito-identity-provider")); err != nil {
		t.Skip("needs node_modules/@aws-sdk/client-cognito-identity-provider (npm ci at the repository root)")
	}
	u := ada()
	totp := []store.MFAFactor{{Kind: store.FactorTOTP, Confirmed: true}}
	zero := 0
	groups := []store.Group{
		{Name: "admins", Description: "Operators", Precedence: &zero, CreatedAt: created, UpdatedAt: modified},
		{Name: "plain", CreatedAt: created, UpdatedAt: created},
	}
	answers := map[string]any{
		"AdminGetUser": AdminGetUser(u, totp, MFASoftwareToken),
		"ListUsers":    map[string]any{"Users": FromUsers([]*store.User{u}, []string{"email", "given_name"}), "PaginationToken": "next-page"},
		"GetGroup":     map[string]any{"Group": FromGroup(groups[0], "eu-west-1_AbC123")},
		"ListGroups":   map[string]any{"Groups": FromGroups(groups, "eu-west-1_AbC123")},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSCognitoIdentityProviderService.")
		a, ok := answers[action]
		if !ok {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"UnknownOperationException","message":"` + action + `"}`))
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(a)
	}))
	defer srv.Close()

	cmd := exec.CommandContext(t.Context(), node, filepath.Join("testdata", "sdk.mjs"), srv.URL)
	cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node: %v\n%s", err, stderr)
	}
	var got struct {
		AdminGetUser struct {
			Username   string
			Attributes []Attribute
			Created    string
			Modified   string
			Enabled    bool
			UserStatus string
			MFA        []string
			Preferred  string
		}
		ListUsers struct {
			Usernames  []string
			Attributes []Attribute
			Created    string
			Enabled    bool
			Token      string
		}
		GetGroup struct {
			GroupName, UserPoolId, Description string
			Precedence                         *int
			Created, Modified                  string
		}
		ListGroups struct {
			Names      []string
			Precedence []*int
			Token      *string
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	a := got.AdminGetUser
	if a.Username != u.ID || a.Created != "2024-05-01T12:00:00.123Z" || a.Modified != "2024-06-02T08:30:15.500Z" ||
		!a.Enabled || a.UserStatus != "CONFIRMED" || len(a.MFA) != 1 || a.MFA[0] != MFASoftwareToken || a.Preferred != MFASoftwareToken {
		t.Errorf("AdminGetUser as the SDK read it: %+v", a)
	}
	if v, _ := value(a.Attributes, "email_verified"); v != "true" {
		t.Errorf("AdminGetUser attributes as the SDK read them: %+v", a.Attributes)
	}
	l := got.ListUsers
	if len(l.Usernames) != 1 || l.Usernames[0] != u.ID || len(l.Attributes) != 2 || l.Created != "2024-05-01T12:00:00.123Z" ||
		!l.Enabled || l.Token != "next-page" {
		t.Errorf("ListUsers as the SDK read it: %+v", l)
	}
	g := got.GetGroup
	if g.GroupName != "admins" || g.UserPoolId != "eu-west-1_AbC123" || g.Description != "Operators" ||
		g.Precedence == nil || *g.Precedence != 0 || g.Created != "2024-05-01T12:00:00.123Z" || g.Modified != "2024-06-02T08:30:15.500Z" {
		t.Errorf("GetGroup as the SDK read it: %+v", g)
	}
	lg := got.ListGroups
	if len(lg.Names) != 2 || lg.Names[1] != "plain" || lg.Precedence[0] == nil || lg.Precedence[1] != nil || lg.Token != nil {
		t.Errorf("ListGroups as the SDK read it: %+v", lg)
	}
}
