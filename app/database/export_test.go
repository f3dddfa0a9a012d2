package database

import (
	"context"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SetRestartPolicy shortens the supervisor's delays for tests; it returns a function restoring them.
func SetRestartPolicy(delays []time.Duration, restarts int) func() {
	oldD, oldR := restartDelays, maxRestarts
	restartDelays, maxRestarts = delays, restarts
	return func() { restartDelays, maxRestarts = oldD, oldR }
}

// MigrateWith is Migrate over a given list, so tests can add migrations the binary does not have.
func MigrateWith(ctx context.Context, pool *pgxpool.Pool, all []Migration, o MigrateOptions) ([]Migration, error) {
	return migrate(ctx, pool, all, o)
}

// StatusWith is MigrationStatus over a given list.
func StatusWith(ctx context.Context, pool *pgxpool.Pool, all []Migration) ([]MigrationState, error) {
	return status(ctx, pool, all)
}

// ParseMigrations reads migration files from dir of fsys.
func ParseMigrations(fsys fs.FS, dir string) ([]Migration, error) { return parseMigrations(fsys, dir) }

// DownloadBinariesFrom is downloadBinaries with the library's binary repository at repoURL.
func DownloadBinariesFrom(ctx context.Context, repoURL string, major int, dataDir, downloadDir string) error {
	old := binaryRepositoryURL
	binaryRepositoryURL = repoURL
	defer func() { binaryRepositoryURL = old }()
	return downloadBinaries(ctx, major, dataDir, downloadDir)
}
