package middleware

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// HeaderRole carries the request's role (see RoleRule) to the upstream. Like
// the other identity headers, any copy a client sends is removed first.
const HeaderRole = "X-Gatehouse-Role"

// Rule is one `require` line of a gatehouse block. A request must satisfy
// every rule of the block; a rule with several values is satisfied by any
// one of them.
type Rule struct {
	// Kind is what is required: "group", "claim", "scope", "mfa",
	// "authenticated" or "role".
	Kind string `json:"kind"`
	// Claim names the claim of a "claim" rule.
	Claim string `json:"claim,omitempty"`
	// Values are the groups, claim values, scopes or roles accepted.
	Values []string `json:"values,omitempty"`
}

// RoleRule maps authenticated requests to a role, as a Cognito identity
// pool's rules do: a gateway's role rules are tried in order and the first
// that matches names the request's role.
type RoleRule struct {
	// Role is the role's name, sent upstream in X-Gatehouse-Role.
	Role string `json:"role"`
	// When is "group", "claim", or "" for a rule that matches every
	// authenticated request (a default role, written last).
	When string `json:"when,omitempty"`
	// Claim names the claim of a "claim" condition.
	Claim string `json:"claim,omitempty"`
	// Values: any one of them matches.
	Values []string `json:"values,omitempty"`
}

// Policy is the authorization part of a gateway's configuration.
type Policy struct {
	// Rules must all hold for a request to pass.
	Rules []Rule
	// Roles are tried in order; the first match names the request's role.
	Roles []RoleRule
	// GuestRole is the role of requests without identity that pass (in
	// ModeAllow, on a public path, or with AllowAnonymous).
	GuestRole string
	// AllowAnonymous lets requests without identity through; Rules must be
	// empty.
	AllowAnonymous bool
	// PublicPaths are paths where the gateway requires nothing: "/exact",
	// "/prefix/*" or "*.suffix", matched case-sensitively against the
	// cleaned request path.
	PublicPaths []string
}

// Role is a role a gateway can give requests, compiled once.
type Role struct {
	name   string
	header []string // shared by every request with this role; never written
	when   condition
}

// Name returns the role's name; "" for no role (nil).
func (r *Role) Name() string {
	if r == nil {
		return ""
	}
	return r.name
}

type ruleKind uint8

const (
	ruleAuthenticated ruleKind = iota
	ruleGroup
	ruleClaim
	ruleScope
	ruleMFA
	ruleRole
	ruleAlways // role conditions only: every authenticated request
)

// condition is a compiled rule or role condition.
type condition struct {
	kind   ruleKind
	claim  string
	values []string
}

// rule is a compiled Rule with what a refusal says, made once.
type rule struct {
	condition
	// text describes the rule in logs: "group admins".
	text string
	// challenge is the WWW-Authenticate value a bearer request that fails
	// the rule gets (RFC 6750 §3.1, RFC 9470 for mfa).
	challenge string
	// message is what the refused user reads.
	message string
}

// policy is a compiled Policy.
type policy struct {
	rules          []rule
	roles          []*Role
	guest          *Role
	allowAnonymous bool
	public         []pathPattern
}

// secondFactors are the `amr` values (RFC 8176) that show a second factor.
var secondFactors = []string{"mfa", "otp", "hwk", "swk", "sms", "sc", "pop"}

func compilePolicy(p Policy) (*policy, error) {
	out := &policy{allowAnonymous: p.AllowAnonymous}
	if p.AllowAnonymous && len(p.Rules) > 0 {
		return nil, errors.New("allow anonymous: a block that lets everyone in cannot also require something (put the rules in another block)")
	}
	for _, r := range p.Rules {
		c, err := compileRule(r)
		if err != nil {
			return nil, err
		}
		out.rules = append(out.rules, c)
	}
	for i, rr := range p.Roles {
		if err := checkRoleName(rr.Role); err != nil {
			return nil, err
		}
		var cond condition
		switch rr.When {
		case "":
			if len(rr.Values) > 0 || rr.Claim != "" {
				return nil, fmt.Errorf("role %s: values without a condition", rr.Role)
			}
			if i != len(p.Roles)-1 {
				return nil, fmt.Errorf("role %s: a role without a condition matches everyone, so it must be the last role line", rr.Role)
			}
			cond = condition{kind: ruleAlways}
		case "group":
			if len(rr.Values) == 0 || rr.Claim != "" {
				return nil, fmt.Errorf("role %s when group: want at least one group", rr.Role)
			}
			cond = condition{kind: ruleGroup, values: slices.Clone(rr.Values)}
		case "claim":
			if rr.Claim == "" || len(rr.Values) == 0 {
				return nil, fmt.Errorf("role %s when claim: want a claim name and at least one value", rr.Role)
			}
			cond = condition{kind: ruleClaim, claim: rr.Claim, values: slices.Clone(rr.Values)}
		default:
			return nil, fmt.Errorf("role %s: unknown condition %q (want group or claim)", rr.Role, rr.When)
		}
		out.roles = append(out.roles, &Role{name: rr.Role, header: []string{rr.Role}, when: cond})
	}
	if p.GuestRole != "" {
		if err := checkRoleName(p.GuestRole); err != nil {
			return nil, err
		}
		out.guest = &Role{name: p.GuestRole, header: []string{p.GuestRole}}
	}
	for _, s := range p.PublicPaths {
		pp, err := compilePath(s)
		if err != nil {
			return nil, err
		}
		out.public = append(out.public, pp)
	}
	return out, nil
}

func compileRule(r Rule) (rule, error) {
	c := rule{condition: condition{claim: r.Claim, values: slices.Clone(r.Values)}}
	needValues := true
	switch r.Kind {
	case "authenticated":
		c.kind, needValues = ruleAuthenticated, false
		c.text = "authenticated"
		c.message = "You need to sign in to see this page."
	case "group":
		c.kind = ruleGroup
		c.text = "group " + strings.Join(r.Values, " ")
		c.message = "Your account does not have access to this page."
		c.challenge = `Bearer error="insufficient_scope", error_description="the token's user is not in a group this resource requires"`
	case "claim":
		if r.Claim == "" {
			return rule{}, errors.New("require claim: want a claim name and at least one value")
		}
		c.kind = ruleClaim
		c.text = "claim " + r.Claim + " " + strings.Join(r.Values, " ")
		c.message = "Your account does not have access to this page."
		c.challenge = `Bearer error="insufficient_scope", error_description="the token lacks a claim value this resource requires"`
	case "scope":
		c.kind = ruleScope
		c.text = "scope " + strings.Join(r.Values, " ")
		c.message = "This needs an access token with the scope " + strings.Join(r.Values, " or ") + "."
		c.challenge = `Bearer error="insufficient_scope", error_description="the token lacks a scope this resource requires", scope=` +
			strconv.Quote(strings.Join(r.Values, " "))
	case "mfa":
		c.kind, needValues = ruleMFA, false
		c.text = "mfa"
		c.message = "This page needs a sign-in with a second factor."
		c.challenge = `Bearer error="insufficient_user_authentication", error_description="this resource requires multi-factor authentication", acr_values="mfa"`
	case "role":
		c.kind = ruleRole
		c.text = "role " + strings.Join(r.Values, " ")
		c.message = "Your account does not have access to this page."
		c.challenge = `Bearer error="insufficient_scope", error_description="the token's role is not one this resource requires"`
	default:
		return rule{}, fmt.Errorf("require %q: unknown rule (want group, claim, scope, mfa, authenticated or role)", r.Kind)
	}
	if r.Claim != "" && c.kind != ruleClaim {
		return rule{}, fmt.Errorf("require %s: takes no claim name", r.Kind)
	}
	if needValues && len(r.Values) == 0 {
		return rule{}, fmt.Errorf("require %s: want at least one value", r.Kind)
	}
	if !needValues && len(r.Values) > 0 {
		return rule{}, fmt.Errorf("require %s: takes no values", r.Kind)
	}
	for _, v := range r.Values {
		if v == "" {
			return rule{}, fmt.Errorf("require %s: empty value", r.Kind)
		}
	}
	if c.kind == ruleScope {
		for _, v := range r.Values {
			// RFC 6749 §3.3 scope tokens; also keeps the challenge quotable.
			if strings.ContainsAny(v, " \"\\") {
				return rule{}, fmt.Errorf("require scope %q: not a scope token", v)
			}
		}
	}
	return c, nil
}

func checkRoleName(name string) error {
	if name == "" {
		return errors.New("role: empty name")
	}
	for i := 0; i < len(name); i++ {
		// A header value, read by upstream code: keep it to visible ASCII
		// without separators that would make it a list.
		if c := name[i]; c <= ' ' || c >= 0x7f || c == ',' || c == '"' {
			return fmt.Errorf("role %q: use letters, digits and punctuation other than , and \" only", name)
		}
	}
	return nil
}

// facts is what rules read about an authenticated request, made once per
// session or verified token and then shared read-only, so that evaluating
// rules allocates nothing.
type facts struct {
	// claims holds a bearer token's claims with string, boolean, number or
	// string-array values; nil for a session (see single).
	claims map[string][]string
	// single holds a session's sub, email, email_verified and name, each
	// sliced out as a one-element []string without allocating.
	single [4]string
	groups []string
	amr    []string
	// scopes are a bearer token's scopes; nil for a session, which has none.
	scopes []string
	bearer bool
	mfa    bool
}

func sessionFacts(s *Session) facts {
	return facts{
		single: [4]string{s.UserID, s.Email, strconv.FormatBool(s.EmailVerified), s.Name},
		groups: s.Groups,
		amr:    s.AMR,
		mfa:    hasSecondFactor(s.AMR),
	}
}

func hasSecondFactor(amr []string) bool {
	for _, m := range amr {
		if slices.Contains(secondFactors, m) {
			return true
		}
	}
	return false
}

// claim returns the values of a claim, or nil.
func (f *facts) claim(name string) []string {
	if f.claims != nil {
		return f.claims[name]
	}
	switch name {
	case "sub":
		return f.single[0:1]
	case "email":
		if f.single[1] == "" {
			return nil
		}
		return f.single[1:2]
	case "email_verified":
		if f.single[1] == "" {
			return nil
		}
		return f.single[2:3]
	case "name":
		if f.single[3] == "" {
			return nil
		}
		return f.single[3:4]
	case "groups", "cognito:groups":
		return f.groups
	case "amr":
		return f.amr
	}
	return nil
}

// anyOf reports whether have and want share a value.
func anyOf(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// holds reports whether the condition holds for f (nil: no identity) with
// role.
func (c *condition) holds(f *facts, role *Role) bool {
	if c.kind == ruleRole {
		if role == nil {
			return false
		}
		for _, v := range c.values {
			if v == role.name {
				return true
			}
		}
		return false
	}
	if f == nil {
		return false
	}
	switch c.kind {
	case ruleAuthenticated, ruleAlways:
		return true
	case ruleGroup:
		return anyOf(f.groups, c.values)
	case ruleClaim:
		return anyOf(f.claim(c.claim), c.values)
	case ruleScope:
		return anyOf(f.scopes, c.values)
	case ruleMFA:
		return f.mfa
	}
	return false
}

// check returns the index of the first rule that does not hold, or -1.
func (p *policy) check(f *facts, role *Role) int {
	for i := range p.rules {
		if !p.rules[i].holds(f, role) {
			return i
		}
	}
	return -1
}

// roleFor returns the role of an authenticated request: the first role
// rule that matches, or nil.
func (p *policy) roleFor(f *facts) *Role {
	for _, r := range p.roles {
		if r.when.holds(f, nil) {
			return r
		}
	}
	return nil
}

// CheckPolicy reports what is wrong with p, as NewGateway would.
func CheckPolicy(p Policy) error {
	_, err := compilePolicy(p)
	return err
}

// String returns the role's name, for the role in a placeholder.
func (r *Role) String() string { return r.Name() }
