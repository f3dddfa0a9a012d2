package database

import (
	"context"
	"io/fs"
	"log/slog"
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

// SetBundle makes meta and data (a zstd-compressed tar) the PostgreSQL inside the program, as a
// bundle_pg build does (nil meta: none); it returns a function restoring the previous one.
func SetBundle(meta, data []byte) func() {
	old := bundled
	bundled = nil
	if meta != nil {
		bundled = loadBundle(meta, data)
	}
	return func() { bundled = old }
}

// ExtractBundled extracts the bundle into dataDir (see bundledBinaries) and returns its bin/.
func ExtractBundled(ctx context.Context, dataDir string, log *slog.Logger) (binDir, source, version string, err error) {
	if bundled == nil {
		return "", "", "", errNoBundle
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := bundledBinaries(ctx, bundled, dataDir, log)
	return b.BinDir, b.Source, b.Version, err
}
