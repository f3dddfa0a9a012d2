package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DumpOptions are the caller's choices for Dump and WriteFile.
type DumpOptions struct {
	Program string // stored in Meta.Program, e.g. "healthcare 1.2.0"
}

// testHookAfterTable, when set by a test, runs after each table has been copied.
var testHookAfterTable func(name string)

// Dump writes a backup of the database conn is connected to onto w and returns its Meta. Every
// ordinary table of schema public (schema_migrations included) is copied inside one REPEATABLE
// READ, READ ONLY transaction: the backup is one snapshot, consistent while other sessions keep
// writing. Each table is locked in ACCESS SHARE mode, which blocks only schema changes. Sequence
// values are read after the tables, so they are at least as high as any id in the backup. conn
// must not be inside a transaction. On error w holds an incomplete backup, which readers refuse.
func Dump(ctx context.Context, conn *pgx.Conn, w io.Writer, o DumpOptions) (Meta, error) {
	if conn.PgConn().TxStatus() != 'I' {
		return Meta{}, errors.New("cannot back up on a connection inside a transaction (it would not be one snapshot); pass a connection that is idle")
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Meta{}, dumpError("start the backup transaction", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	// The first statement takes the transaction's snapshot; everything below reads that snapshot.
	if _, err := tx.Exec(ctx, sessionSettings); err != nil {
		return Meta{}, dumpError("set up the backup transaction", err)
	}
	meta := Meta{FormatVersion: FormatVersion, Program: o.Program, Tables: map[string]int64{}}
	if err := tx.QueryRow(ctx, `SELECT now(), current_setting('server_version')`).Scan(&meta.CreatedAt, &meta.PostgresVersion); err != nil {
		return Meta{}, dumpError("read the server version", err)
	}
	meta.CreatedAt = meta.CreatedAt.UTC()
	if meta.SchemaVersion, err = schemaVersion(ctx, tx); err != nil {
		return Meta{}, dumpError("read the schema version", err)
	}
	tabs, err := tables(ctx, tx)
	if err != nil {
		return Meta{}, dumpError("read the catalog", err)
	}
	if len(tabs) > 0 {
		names := make([]string, len(tabs))
		for i, t := range tabs {
			names[i] = t.qualified()
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(names, ", ")+" IN ACCESS SHARE MODE"); err != nil {
			return Meta{}, dumpError("lock the tables against schema changes", err)
		}
	}

	bw := newWriter(w)
	bw.bw.WriteString(fmt.Sprintf("%s %d\n", magic, FormatVersion))
	for _, t := range tabs {
		if err := bw.line("TABLE", tableHeader{Name: t.name, Columns: t.columns}); err != nil {
			return Meta{}, writeError(err)
		}
		rc := &rowCounter{w: bw.bw}
		if _, err := tx.Conn().PgConn().CopyTo(ctx, rc, "COPY "+t.qualified()+" ("+t.columnList()+") TO STDOUT"); err != nil {
			return Meta{}, dumpError("copy table "+t.name, err)
		}
		if rc.rows > 0 && rc.last != '\n' {
			return Meta{}, fmt.Errorf("cannot back up table %s: its COPY output did not end with a newline; report this as a bug", t.name)
		}
		if _, err := bw.bw.WriteString("\\.\n"); err != nil {
			return Meta{}, writeError(err)
		}
		meta.Tables[t.name] = rc.rows
		if testHookAfterTable != nil {
			testHookAfterTable(t.name)
		}
	}

	seqs, err := sequences(ctx, tx)
	if err != nil {
		return Meta{}, dumpError("read the catalog", err)
	}
	for _, s := range seqs {
		q := "SELECT last_value, is_called FROM " + pgx.Identifier{"public", s.Name}.Sanitize()
		if err := tx.QueryRow(ctx, q).Scan(&s.LastValue, &s.IsCalled); err != nil {
			return Meta{}, dumpError("read sequence "+s.Name, err)
		}
		if err := bw.line("SEQUENCE", s); err != nil {
			return Meta{}, writeError(err)
		}
	}
	if err := bw.line("META", meta); err != nil {
		return Meta{}, writeError(err)
	}
	if err := bw.close(); err != nil {
		return Meta{}, writeError(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Meta{}, dumpError("end the backup transaction", err)
	}
	return meta, nil
}

func dumpError(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the backup was cancelled or timed out (during: %s): %w", what, err)
	}
	// Dump reads and never sends row values, so PostgreSQL's messages about what it does
	// (permissions, locks, a dropped connection) quote no patient data.
	return fmt.Errorf("cannot back up the database (%s: %w); check that the database is running and that this user may read every table, then try again", what, err)
}

func writeError(err error) error {
	return fmt.Errorf("cannot write the backup: %w; check the free space and permissions of its destination", err)
}

// WriteFile dumps the database into path, atomically: into a new file (mode 0600) in the same
// directory, synced, renamed to path, and the directory synced. On any error the temporary file
// is removed and path is untouched. An existing file at path is replaced.
func WriteFile(ctx context.Context, conn *pgx.Conn, path string, o DumpOptions) (Meta, error) {
	dir := filepath.Dir(path)
	// The temporary name starts with a dot and does not end in .backup: List and Prune ignore it.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return Meta{}, fmt.Errorf("cannot create the backup file in %s: %w; check that the directory exists and is writable", dir, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	meta, err := Dump(ctx, conn, bw, o)
	if err != nil {
		return Meta{}, err
	}
	if err := bw.Flush(); err != nil {
		return Meta{}, writeError(err)
	}
	if err := f.Sync(); err != nil {
		return Meta{}, writeError(err)
	}
	if err := f.Close(); err != nil {
		return Meta{}, writeError(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return Meta{}, fmt.Errorf("cannot move the backup into place as %s: %w", path, err)
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return meta, fmt.Errorf("the backup %s is written but its directory could not be synced to disk (%v); check the disk before relying on it", path, err)
	}
	return meta, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// FileName is the conventional name of a backup taken at t of a schema at schemaVersion, e.g.
// healthcare-20260102T030405Z-v1.backup. List and Prune recognise backups by this pattern.
func FileName(t time.Time, schemaVersion int) string {
	return fmt.Sprintf("healthcare-%s-v%d.backup", t.UTC().Format(nameTimeLayout), schemaVersion)
}

const nameTimeLayout = "20060102T150405Z"
