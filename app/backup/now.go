package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/database"
)

// DirName is the data directory's folder of automatic and default backups (embedded mode).
const DirName = "backups"

// Dir is the backups folder of the data directory dataDir.
func Dir(dataDir string) string { return filepath.Join(dataDir, DirName) }

// Write dumps conn's database into dir under FileName's name, or into out when set, and returns
// the file's path. program names the writer in the file (e.g. "healthcare 1.2.3").
func Write(ctx context.Context, conn *pgx.Conn, dir, out, program string) (string, Meta, error) {
	path := out
	if path == "" {
		version, err := database.SchemaVersion(ctx, conn)
		if err != nil {
			return "", Meta{}, fmt.Errorf("cannot read the schema version: %v", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", Meta{}, fmt.Errorf("cannot create the backup directory %s: %v", dir, unwrapPath(err))
		}
		if path, err = freeName(ctx, dir, version); err != nil {
			return "", Meta{}, err
		}
	}
	meta, err := WriteFile(ctx, conn, path, DumpOptions{Program: program})
	if err != nil {
		return "", meta, err
	}
	return path, meta, nil
}

// freeName is the FileName of a backup taken now in dir, unless a backup of this second is there
// already (a scheduled one and an administrator's, say): then the next second's. Names are to the
// second, and the second backup would otherwise replace the first.
func freeName(ctx context.Context, dir string, version int) (string, error) {
	for {
		now := time.Now()
		path := filepath.Join(dir, FileName(now, version))
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			return path, nil
		}
		select {
		case <-time.After(now.Truncate(time.Second).Add(time.Second).Sub(now)):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// running serialises the backups this process writes into one folder (the scheduler, the upgrade
// hook and the admin API may ask at once).
var running sync.Mutex

// Now writes a backup of pool's database into dir, then deletes the oldest beyond keep (Prune),
// and returns the new file's path and contents. why is logged ("scheduled", "requested by an
// administrator"...).
func Now(ctx context.Context, pool *pgxpool.Pool, dir string, keep int, program, why string, log *slog.Logger) (string, Meta, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	running.Lock()
	defer running.Unlock()
	c, err := pool.Acquire(ctx)
	if err != nil {
		return "", Meta{}, fmt.Errorf("cannot back up: %v", err)
	}
	defer c.Release()
	begin := time.Now()
	path, meta, err := Write(ctx, c.Conn(), dir, "", program)
	if err != nil {
		return "", meta, err
	}
	log.Info("backup written", "why", why, "path", path, "schema_version", meta.SchemaVersion,
		"took", time.Since(begin).Round(time.Millisecond).String())
	removed, err := Prune(dir, keep)
	for _, r := range removed {
		log.Info("old backup removed (backup.keep)", "path", r)
	}
	return path, meta, err
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
