package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "audit",
		Usage: "--email <email> | --user <email or sub> | --all [--type <type> ...] [--since 24h|<RFC 3339>] [--limit <n>] [--config <path>] [--pool <name>] [--json]",
		Short: "Lists the audit trail of a Gatehouse pool",
		Long: `
Lists a pool's audit events, newest first: sign-ins and failed ones, lockouts,
second factors enrolled, used and removed, password and address changes, and
administrators' changes to users. The pool is found as by 'gatehouse users'.

--email lists the events of the user with that address together with the
sign-ins typed for it, also before the account existed or after it was
deleted; --all lists every event.

  gatehouse audit --email ada@example.com --since 7d
  gatehouse audit --all --type sign_in_failed --type locked_out --json

Types: ` + strings.Join(pool.AuditTypes, ", ") + `.

Output is one line per event by default and JSON with --json. The exit status
is non-zero, with the reason on stderr, on any failure.
`,
		CobraFunc: auditCmd,
	})
}

// auditPage is how many events one store query asks for.
const auditPage = store.MaxAuditLimit

func auditCmd(cmd *cobra.Command) {
	var (
		pf    poolFlags
		email string
		user  string
		all   bool
		types []string
		since string
		limit int
	)
	pf.register(cmd.Flags())
	cmd.Flags().StringVar(&email, "email", "", "List the events of this address's user and of sign-ins typed for it")
	cmd.Flags().StringVar(&user, "user", "", "The same by the user's email or sub (its id): a deleted user's trail by sub")
	cmd.Flags().BoolVar(&all, "all", false, "List every user's events")
	cmd.Flags().StringArrayVar(&types, "type", nil, "Only events of this type (repeatable)")
	cmd.Flags().StringVar(&since, "since", "", "Only events since this long ago (24h, 7d) or this time (RFC 3339)")
	cmd.Flags().IntVar(&limit, "limit", store.DefaultAuditLimit, "List at most this many events (0: all)")
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("unexpected argument %q: %s takes flags only", args[0], cmd.CommandPath())
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var q store.AuditQuery
		if user != "" && email == "" && !strings.Contains(user, "@") {
			q.UserID = user // a sub: the user may be gone
		} else if user != "" && email == "" {
			email = user
		} else if user != "" {
			return errors.New("give --email or --user, not both")
		}
		switch {
		case q.UserID != "":
			if all {
				return errors.New("give --user or --all, not both")
			}
		case (email == "") == !all:
			return errors.New("give --email <email>, --user <email or sub>, or --all")
		case email != "":
			e, err := normalizeEmail(email)
			if err != nil {
				return err
			}
			q.Login = e
		}
		for _, t := range types {
			if !slices.Contains(pool.AuditTypes, t) {
				return fmt.Errorf("--type %q: unknown; one of %s", t, strings.Join(pool.AuditTypes, ", "))
			}
		}
		q.Types = types
		if since != "" {
			t, err := parseSince(since, time.Now())
			if err != nil {
				return fmt.Errorf("--since %q: %w", since, err)
			}
			q.Since = t
		}
		if limit < 0 {
			return fmt.Errorf("--limit %d: must be 0 (all) or more", limit)
		}
		return pf.withPool(cmd, func(ctx context.Context, p *pool.Pool) error {
			if q.Login != "" {
				// The account's own events, under whatever address it had,
				// along with those typed for this one.
				u, err := p.UserByEmail(ctx, q.Login)
				switch {
				case err == nil:
					q.UserID = u.ID
				case !errors.Is(err, pool.ErrUserNotFound):
					return err
				}
			}
			events, err := auditEvents(ctx, p, q, limit)
			if err != nil {
				return err
			}
			return printAudit(cmd.OutOrStdout(), pf.json, events)
		})
	}
}

// auditEvents pages through the events q selects, newest first, until
// limit events (0: all).
func auditEvents(ctx context.Context, p *pool.Pool, q store.AuditQuery, limit int) ([]store.AuditEvent, error) {
	events := []store.AuditEvent{}
	for {
		q.Limit = auditPage
		if limit > 0 {
			q.Limit = min(auditPage, limit-len(events))
		}
		page, err := p.Store().AuditEvents(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("reading the audit trail: %w", err)
		}
		events = append(events, page...)
		if len(page) < q.Limit || (limit > 0 && len(events) >= limit) {
			return events, nil
		}
		q.Before = page[len(page)-1].ID
	}
}

// parseSince reads --since: a time ago (a Go duration, or whole days as
// "7d") or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*366 {
			return time.Time{}, errors.New("want a duration (24h, 7d) or an RFC 3339 time")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 0 {
			return time.Time{}, errors.New("want a duration (24h, 7d) or an RFC 3339 time")
		}
	}
	return now.Add(-d), nil
}

// auditOutput is what --json shows of an event.
type auditOutput struct {
	ID     int64             `json:"id"`
	At     time.Time         `json:"at"`
	Type   string            `json:"type"`
	UserID string            `json:"user_id"`
	Login  string            `json:"login"`
	IP     string            `json:"ip"`
	Reason string            `json:"reason"`
	Detail map[string]string `json:"detail"`
}

func printAudit(w io.Writer, asJSON bool, events []store.AuditEvent) error {
	if asJSON {
		out := make([]auditOutput, len(events))
		for i, e := range events {
			out[i] = auditOutput{ID: e.ID, At: e.At.UTC(), Type: e.Type, UserID: e.UserID, Login: e.Login,
				IP: e.IP, Reason: e.Reason, Detail: e.Detail}
		}
		return printJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTYPE\tLOGIN\tIP\tREASON\tDETAIL")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", formatTime(e.At), e.Type, orDash(e.Login), orDash(e.IP),
			orDash(e.Reason), orDash(formatDetail(e.Detail)))
	}
	return tw.Flush()
}

// formatDetail writes an event's details as key=value in key order, quoting
// a value that would not read as one word (a factor's name may be anything).
func formatDetail(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := d[k]
		if v == "" || strings.ContainsAny(v, " \t\n\r\"=\\") || strconv.Quote(v) != `"`+v+`"` {
			v = strconv.Quote(v)
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}
