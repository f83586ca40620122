package sqlite

import (
	"context"
	"database/sql"
	"embed"

	"github.com/gatehouse-auth/gatehouse/store/migration"
	"github.com/gatehouse-auth/gatehouse/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate brings db up to date with ms. Its transaction begins IMMEDIATE
// (see dsn), so a second process opening the same fresh file waits for the
// first to finish and then finds nothing left to do, instead of both
// creating the same tables.
func migrate(ctx context.Context, db *sql.DB, ms []migration.Step) error {
	return sqlstore.Migrate(ctx, db, dialect{}, ms)
}
