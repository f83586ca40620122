// Command bigstore fills a fresh Gatehouse store with many users, quickly,
// for the lookup benchmarks in bench/bigstore_test.go (which skip unless
// such a store exists):
//
//	go run ./bench/cmd/bigstore -sqlite /tmp/big.db                  # 1,000,000 users
//	go run ./bench/cmd/bigstore -postgres 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=bigstore'
//
// The schema is made by the store itself (sqlite.Open / postgres.Open run
// the real migrations), then the rows are bulk-loaded around the store: big
// transactions of multi-row INSERTs for SQLite, COPY for PostgreSQL. Every
// user shares one argon2id hash computed once at the production parameters
// (hashing a million passwords would take hours and measure nothing), so any
// of them can sign in with the password printed at the end.
//
// User i (0 <= i < n) has the email UserEmail(i) and the id UserID(i); the
// benchmarks recompute them to pick users at random. One user in ten is in
// group "staff", one in a thousand in "admins" too.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/gatehouse-auth/gatehouse/bench/bigstore"
	"github.com/gatehouse-auth/gatehouse/pool"
	"github.com/gatehouse-auth/gatehouse/store"
	"github.com/gatehouse-auth/gatehouse/store/postgres"
	"github.com/gatehouse-auth/gatehouse/store/sqlite"
)

func main() {
	var (
		sqlitePath = flag.String("sqlite", "", "SQLite database file to create (must not exist)")
		pgDSN      = flag.String("postgres", "", "PostgreSQL DSN whose search_path names the schema to fill (created if missing; must hold no users)")
		n          = flag.Int("n", 1_000_000, "number of users")
		batch      = flag.Int("batch", 50_000, "users per transaction")
	)
	flag.Parse()
	if (*sqlitePath == "") == (*pgDSN == "") || *n <= 0 || *batch <= 0 {
		fmt.Fprintln(os.Stderr, "usage: bigstore (-sqlite <file> | -postgres <dsn>) [-n 1000000] [-batch 50000]")
		os.Exit(2)
	}
	ctx := context.Background()
	start := time.Now()
	hash, err := hashOnce(ctx)
	if err != nil {
		fail(err)
	}
	fmt.Printf("one argon2id hash at the default parameters: %s\n", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	if *sqlitePath != "" {
		err = buildSQLite(ctx, *sqlitePath, *n, *batch, hash)
	} else {
		err = buildPostgres(ctx, *pgDSN, *n, *batch, hash)
	}
	if err != nil {
		fail(err)
	}
	took := time.Since(start)
	fmt.Printf("built %d users in %s (%.0f users/s)\n", *n, took.Round(time.Millisecond), float64(*n)/took.Seconds())
	if *sqlitePath != "" {
		fmt.Printf("size: %s\n", sqliteSize(*sqlitePath))
		fmt.Printf("benchmark with: GATEHOUSE_BIGSTORE_SQLITE=%s GATEHOUSE_BIGSTORE_N=%d go test -run '^$' -bench BigStore ./bench/\n", *sqlitePath, *n)
	} else {
		fmt.Printf("size: %s\n", postgresSize(ctx, *pgDSN))
		fmt.Printf("benchmark with: GATEHOUSE_BIGSTORE_POSTGRES='%s' GATEHOUSE_BIGSTORE_N=%d go test -run '^$' -bench BigStore ./bench/\n", *pgDSN, *n)
	}
	fmt.Printf("every user's password: %s\n", bigstore.Password)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bigstore:", err)
	os.Exit(1)
}

// hashOnce is the one real password hash every user gets.
func hashOnce(ctx context.Context) (string, error) {
	h, err := pool.NewHasher(pool.DefaultHashParams, 1)
	if err != nil {
		return "", err
	}
	return h.Hash(ctx, bigstore.Password)
}

// row is what both loaders write for user i.
type row struct {
	id, email, name string
	groups          []string
}

// benchGroups are the groups userRow puts users in; memberships refer to
// their group, so the groups are made first, through the store.
var benchGroups = []string{"staff", "admins"}

func createGroups(ctx context.Context, st store.Store) error {
	for _, g := range benchGroups {
		// A group a previous, failed run made is as good.
		if err := st.CreateGroup(ctx, &store.Group{Name: g}); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("creating group %s: %w", g, err)
		}
	}
	return nil
}

func userRow(i int) row {
	r := row{id: bigstore.UserID(i), email: bigstore.UserEmail(i), name: fmt.Sprintf("Bench User %d", i)}
	if i%10 == 0 {
		r.groups = append(r.groups, "staff")
	}
	if i%1000 == 0 {
		r.groups = append(r.groups, "admins")
	}
	return r
}

// buildSQLite creates the file with the store's own Open (schema, WAL,
// modes), then loads the users through one connection with the fsyncs off:
// a crash halfway leaves a file to delete, not a store to trust. The
// pragmas are the connection's only; the file is an ordinary store after.
func buildSQLite(ctx context.Context, path string, n, batch int, hash string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists; bigstore only fills a new file", path)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	if err := createGroups(ctx, st); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file://"+abs+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-262144)&_pragma=foreign_keys(ON)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")

	// 100 rows per INSERT: 10 parameters a row stays under SQLite's limit
	// of 32766 parameters per statement, and per-statement overhead
	// is paid 100 times less.
	const perStmt = 100
	userSQL := "INSERT INTO users (id, email, email_verified, name, password_hash, status, enabled, attributes, created_at, updated_at) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, 1, ?, ?, 'CONFIRMED', 1, '{}', ?, ?),", perStmt), ",")
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		full, err := tx.PrepareContext(ctx, userSQL)
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		groupStmt, err := tx.PrepareContext(ctx, "INSERT INTO user_groups (user_id, group_name) VALUES (?, ?)")
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		args := make([]any, 0, perStmt*6)
		var members [][2]string
		for i := lo; i < hi; i++ {
			r := userRow(i)
			args = append(args, r.id, r.email, r.name, hash, now, now)
			for _, g := range r.groups {
				members = append(members, [2]string{r.id, g})
			}
			if len(args) == perStmt*6 {
				if _, err := full.ExecContext(ctx, args...); err != nil {
					_ = tx.Rollback()
					return fmt.Errorf("inserting users: %w", err)
				}
				args = args[:0]
			}
		}
		if len(args) > 0 {
			rows := len(args) / 6
			short := "INSERT INTO users (id, email, email_verified, name, password_hash, status, enabled, attributes, created_at, updated_at) VALUES " +
				strings.TrimSuffix(strings.Repeat("(?, ?, 1, ?, ?, 'CONFIRMED', 1, '{}', ?, ?),", rows), ",")
			if _, err := tx.ExecContext(ctx, short, args...); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("inserting users: %w", err)
			}
		}
		for _, m := range members {
			if _, err := groupStmt.ExecContext(ctx, m[0], m[1]); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("inserting group members: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		progress(lo, hi, n)
	}
	// Fresh statistics for the query planner, as a long-lived store would
	// have after its periodic optimize; then a checkpoint so the file
	// holds everything and the WAL is empty.
	for _, q := range []string{"ANALYZE", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// buildPostgres makes the schema if needed, lets the store migrate it, and
// COPYs the users in, batch by batch.
func buildPostgres(ctx context.Context, dsn string, n, batch int, hash string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	schema := cfg.RuntimeParams["search_path"]
	if schema == "" || strings.ContainsAny(schema, ", ") {
		return errors.New("the DSN must name exactly one schema with search_path=<schema>")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return err
	}
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		return err
	}
	if err := createGroups(ctx, st); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	var existing int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&existing); err != nil {
		return err
	}
	if existing > 0 {
		return fmt.Errorf("schema %s already holds %d users; bigstore only fills an empty one", schema, existing)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		users := make([][]any, 0, hi-lo)
		var members [][]any
		for i := lo; i < hi; i++ {
			r := userRow(i)
			users = append(users, []any{r.id, r.email, true, r.name, hash, "CONFIRMED", true, "{}", now, now})
			for _, g := range r.groups {
				members = append(members, []any{r.id, g})
			}
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"users"},
				[]string{"id", "email", "email_verified", "name", "password_hash", "status", "enabled", "attributes", "created_at", "updated_at"},
				pgx.CopyFromRows(users)); err != nil {
				return fmt.Errorf("copying users: %w", err)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"user_groups"}, []string{"user_id", "group_name"},
				pgx.CopyFromRows(members)); err != nil {
				return fmt.Errorf("copying group members: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		progress(lo, hi, n)
	}
	// VACUUM sets the visibility map, so index-only scans and the planner
	// see the table as a long-lived one; it refuses to run in a
	// transaction, hence one statement per Exec.
	for _, q := range []string{"VACUUM ANALYZE users", "VACUUM ANALYZE user_groups"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// progress prints a line at every tenth of the way.
func progress(prev, done, n int) {
	if done*10/n != prev*10/n {
		fmt.Printf("%d / %d users\n", done, n)
	}
}

func sqliteSize(path string) string {
	var total int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			total += fi.Size()
		}
	}
	return fmt.Sprintf("%.1f MiB (database file, WAL and shared memory)", float64(total)/(1<<20))
}

func postgresSize(ctx context.Context, dsn string) string {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err.Error()
	}
	defer conn.Close(ctx)
	var users, groups int64
	err = conn.QueryRow(ctx, "SELECT pg_total_relation_size('users'), pg_total_relation_size('user_groups')").Scan(&users, &groups)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%.1f MiB (users %.1f MiB, user_groups %.1f MiB, with indexes)",
		float64(users+groups)/(1<<20), float64(users)/(1<<20), float64(groups)/(1<<20))
}
