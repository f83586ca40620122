package cli_test

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// groupJSON is a group's --json output, decoded strictly.
type groupJSON struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Precedence  *int      `json:"precedence"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Members     []string  `json:"members"`
	Deleted     bool      `json:"deleted"`
}

func TestGroupRecords(t *testing.T) {
	e := newEnv(t, "")
	e.create("ada@example.com", "correct horse battery", "--group", "ops")
	e.create("bob@example.com", "correct horse battery")

	if out := e.ok("groups", "create", "--group", "admins", "--description", "Operators", "--precedence", "2"); out != "created group admins\n" {
		t.Errorf("create printed %q", out)
	}
	e.fails(e.gh("groups", "create", "--group", "admins"), `group "admins": a group with this name already exists`)
	e.fails(e.gh("groups", "create", "--group", "ops"), `already exists`) // made by use
	e.fails(e.gh("groups", "create", "--group", "x", "--precedence", "-1"), `precedence`)
	e.fails(e.gh("groups", "create", "--group", "bad name"), `group names are`)
	e.fails(e.gh("groups", "create", "--group", "x", "--description", strings.Repeat("d", 2049)), `2048`)

	e.ok("groups", "add-user", "--group", "admins", "--email", "bob@example.com")
	e.ok("groups", "add-user", "--group", "admins", "--email", "ada@example.com")
	// Ada's groups come in precedence order: admins (2) before ops (none).
	if u := e.show("ada@example.com"); !slices.Equal(u.Groups, []string{"admins", "ops"}) {
		t.Errorf("ada's groups %q", u.Groups)
	}
	e.ok("groups", "update", "--group", "ops", "--precedence", "0")
	if u := e.show("ada@example.com"); !slices.Equal(u.Groups, []string{"ops", "admins"}) {
		t.Errorf("ada's groups after ops got precedence 0: %q", u.Groups)
	}

	var g groupJSON
	decodeStrict(t, e.ok("groups", "show", "--group", "admins", "--json"), &g)
	if g.Name != "admins" || g.Description != "Operators" || g.Precedence == nil || *g.Precedence != 2 ||
		!slices.Equal(g.Members, []string{"ada@example.com", "bob@example.com"}) || g.CreatedAt.IsZero() {
		t.Errorf("show --json = %+v", g)
	}
	text := e.ok("groups", "show", "--group", "admins")
	for _, want := range []string{"description:  Operators", "precedence:   2", "member", "bob@example.com"} {
		if !strings.Contains(text, want) {
			t.Errorf("show printed %q, want it to contain %q", text, want)
		}
	}

	decodeStrict(t, e.ok("groups", "update", "--group", "admins", "--description", "", "--json"), &g)
	if g.Description != "" || g.Precedence == nil || *g.Precedence != 2 {
		t.Errorf("update --description '' = %+v: the precedence must stay", g)
	}
	e.fails(e.gh("groups", "update", "--group", "admins"), "nothing to change")
	e.fails(e.gh("groups", "update", "--group", "nope", "--precedence", "1"), `group "nope": no such group`)

	var list []groupJSON
	decodeStrict(t, e.ok("groups", "list", "--json"), &list)
	if len(list) != 2 || list[0].Name != "admins" || list[1].Name != "ops" || *list[1].Precedence != 0 {
		t.Errorf("list --json = %+v", list)
	}
	if out := e.ok("groups", "list"); !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "admins") {
		t.Errorf("list printed %q", out)
	}

	if out := e.ok("groups", "delete", "--group", "admins"); out != "deleted group admins\n" {
		t.Errorf("delete printed %q", out)
	}
	if u := e.show("bob@example.com"); len(u.Groups) != 0 {
		t.Errorf("bob's groups after the group's deletion: %q", u.Groups)
	}
	e.fails(e.gh("groups", "delete", "--group", "admins"), `group "admins": no such group`)
	e.fails(e.gh("groups", "show", "--group", "admins"), `no such group`)
	decodeStrict(t, e.ok("groups", "show", "--group", "ops", "--json"), &g)
	if !slices.Equal(g.Members, []string{"ada@example.com"}) {
		t.Errorf("ops members %q", g.Members)
	}
	e.ok("groups", "create", "--group", "empty")
	decodeStrict(t, e.ok("groups", "show", "--group", "empty", "--json"), &g)
	if g.Members == nil || len(g.Members) != 0 {
		t.Errorf("an empty group's members = %#v, want []", g.Members)
	}
}
