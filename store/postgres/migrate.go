package postgres

import (
	"context"
	"database/sql"
	"embed"

	"github.com/gatehouse-auth/gatehouse/store/migration"
	"github.com/gatehouse-auth/gatehouse/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate brings the connection's current schema up to date with ms in one
// transaction holding migrationLock (see dialect.BeforeMigrate).
func migrate(ctx context.Context, db *sql.DB, ms []migration.Step) error {
	return sqlstore.Migrate(ctx, db, dialect{}, ms)
}
