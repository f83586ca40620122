package transfer

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/store"
)

// CognitoCSVHeader is the header Cognito's GetCSVHeader gives a pool with
// no custom attributes; a pool's custom attributes add custom:<name>
// columns. Every column must be present, in any order (Cognito's rule).
var CognitoCSVHeader = []string{"name", "given_name", "family_name", "middle_name", "nickname",
	"preferred_username", "profile", "picture", "website", "email", "email_verified", "gender",
	"birthdate", "zoneinfo", "locale", "phone_number", "phone_number_verified", "address",
	"updated_at", "cognito:mfa_enabled", "cognito:username"}

// ReadCognitoCSV reads and checks a whole Cognito user-import CSV. As in
// Cognito, every user arrives RESET_REQUIRED without a password, and sets
// one through a code mailed to their (verified) address. A user's
// cognito:username becomes their id, which is Gatehouse's username.
func ReadCognitoCSV(r io.Reader) (*Plan, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, lineErr(1, "no header: %v", err)
	}
	col := map[string]int{}
	for i, name := range header {
		name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))
		if _, dup := col[name]; dup {
			return nil, lineErr(1, "column %q twice", name)
		}
		if !slices.Contains(CognitoCSVHeader, name) && !customAttribute.MatchString(name) {
			return nil, lineErr(1, "column %q is not in Cognito's header (GetCSVHeader) nor custom:<name>", clipped(name))
		}
		col[name] = i
	}
	for _, name := range CognitoCSVHeader {
		if _, ok := col[name]; !ok {
			return nil, lineErr(1, "column %q is missing: every column of Cognito's header must be present", name)
		}
	}
	c := newChecker()
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, lineErr(pe.Line, "%v", pe.Err)
			}
			return nil, err
		}
		get := func(name string) string { return strings.TrimSpace(rec[col[name]]) }
		username := get("cognito:username")
		if username == "" {
			return nil, lineErr(line, "cognito:username is required")
		}
		boolean := func(name string) (bool, error) {
			switch strings.ToLower(get(name)) {
			case "true":
				return true, nil
			case "false", "":
				return false, nil
			}
			return false, fmt.Errorf("%s must be true or false", name)
		}
		verified, err := boolean("email_verified")
		if err != nil {
			return nil, lineErr(line, "%v", err)
		}
		if _, err := boolean("cognito:mfa_enabled"); err != nil || get("cognito:mfa_enabled") == "" {
			return nil, lineErr(line, "cognito:mfa_enabled is required, true or false")
		}
		// Taken but not kept: Gatehouse verifies phone numbers itself.
		if _, err := boolean("phone_number_verified"); err != nil {
			return nil, lineErr(line, "%v", err)
		}
		// The reset code goes by email: Gatehouse sends no SMS of its own.
		if !verified || get("email") == "" {
			return nil, lineErr(line, "email and email_verified=true are required: the user resets their password by a code mailed there")
		}
		ur := &UserRecord{ID: username, Email: get("email"), EmailVerified: true, Name: get("name"),
			Status: store.StatusResetRequired, Attributes: map[string]string{}}
		for name, i := range col {
			v := strings.TrimSpace(rec[i])
			switch name {
			case "name", "email", "email_verified", "cognito:username", "cognito:mfa_enabled", "updated_at", "phone_number_verified":
				continue
			}
			if v != "" {
				ur.Attributes[name] = v
			}
		}
		if err := c.user(line, ur, nil, ReadOptions{}); err != nil {
			return nil, err
		}
		c.records++
	}
	return &c.plan, nil
}
