package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Restore loads the backup at path into the database conn is connected to and returns its Meta.
//
// The database must be empty, with its schema already created at exactly the backup's
// SchemaVersion (the caller runs the migrations up to that version first): the same tables with
// the same columns, no rows except in schema_migrations, whose rows are replaced by the backup's.
//
// The whole file is verified before anything is written. Then, in one transaction, every table is
// locked, checked empty and loaded with COPY FROM (columns named, parents first); every sequence is
// set past the highest restored id (and not below its value in the backup); every table's row count
// is checked against Meta.Tables; and the transaction commits. On any error nothing is restored.
// conn must not be inside a transaction.
func Restore(ctx context.Context, conn *pgx.Conn, path string) (Meta, error) {
	first, err := readFile(path)
	if err != nil {
		return Meta{}, err
	}
	meta := first.meta

	if conn.PgConn().TxStatus() != 'I' {
		return Meta{}, errors.New("cannot restore on a connection inside a transaction (the restore must commit on its own); pass a connection that is idle")
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return Meta{}, restoreError("start the restore transaction", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, sessionSettings); err != nil {
		return Meta{}, restoreError("set up the restore transaction", err)
	}
	target, err := checkTarget(ctx, tx, first)
	if err != nil {
		return Meta{}, err
	}
	// The audit trail is copied with its hash chain as it was (audit_chain() leaves restored rows alone).
	if _, err := tx.Exec(ctx, "SELECT set_config('healthcare.audit_restore', 'on', true)"); err != nil {
		return Meta{}, restoreError("keep the audit chain", err)
	}
	if _, err := tx.Exec(ctx, "SET CONSTRAINTS ALL DEFERRED"); err != nil {
		return Meta{}, restoreError("defer the constraints", err)
	}
	if _, ok := target[migrationsTable]; ok {
		if _, err := tx.Exec(ctx, "DELETE FROM "+target[migrationsTable].qualified()); err != nil {
			return Meta{}, restoreError("clear schema_migrations", err)
		}
	}

	// Second pass: the same file, streamed into COPY. Its checksum must equal the first pass's,
	// else the file changed in between and the transaction is rolled back.
	f, r, err := openBackup(path)
	if err != nil {
		return Meta{}, err
	}
	defer f.Close()
	second, err := r.parse(func(th tableHeader, data io.Reader) error {
		t := target[th.Name]
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, data, "COPY "+t.qualified()+" ("+columnList(th.Columns)+") FROM STDIN")
		if err != nil {
			return restoreError("load table "+th.Name, err)
		}
		if tag.RowsAffected() != meta.Tables[th.Name] {
			return fmt.Errorf("cannot restore table %s: PostgreSQL loaded %d rows, the backup holds %d; nothing was restored", th.Name, tag.RowsAffected(), meta.Tables[th.Name])
		}
		return nil
	})
	if err != nil {
		return Meta{}, err
	}
	if !bytes.Equal(second.sum, first.sum) {
		return Meta{}, fmt.Errorf("%s changed while it was being restored; nothing was restored: make sure nothing writes the file and try again", path)
	}

	for _, s := range first.sequences {
		if err := setSequence(ctx, tx, s, target); err != nil {
			return Meta{}, err
		}
	}
	for _, th := range first.tables {
		var n int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+target[th.Name].qualified()).Scan(&n); err != nil {
			return Meta{}, restoreError("count the rows of "+th.Name, err)
		}
		if n != meta.Tables[th.Name] {
			return Meta{}, fmt.Errorf("cannot restore table %s: it has %d rows after loading, the backup holds %d; nothing was restored", th.Name, n, meta.Tables[th.Name])
		}
	}
	// Restored audit rows carry the transaction ids of the cluster that wrote them: the schema seals
	// what the backup held unsealed and starts sealing after them (migration 0004).
	if _, err := tx.Exec(ctx, `DO $$ BEGIN IF to_regproc('public.audit_restored') IS NOT NULL THEN
		PERFORM public.audit_restored(); END IF; END $$`); err != nil {
		return Meta{}, restoreError("seal the restored audit trail", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Meta{}, restoreError("commit", err)
	}
	return meta, nil
}

// checkTarget makes sure the database can take the backup (same schema version, same tables and
// columns, empty) and locks its tables for the rest of the transaction. It writes nothing.
func checkTarget(ctx context.Context, tx pgx.Tx, c contents) (map[string]table, error) {
	want := c.meta.SchemaVersion
	redo := fmt.Sprintf("create the schema at version %d in a new, empty database and restore into that", want)
	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("cannot restore: %v; %s", err, redo)
	}
	if v != want {
		return nil, fmt.Errorf("cannot restore: the database's schema is at version %d but the backup's is at version %d; %s", v, want, redo)
	}
	tabs, err := tables(ctx, tx)
	if err != nil {
		return nil, restoreError("read the catalog", err)
	}
	target := map[string]table{}
	for _, t := range tabs {
		target[t.name] = t
	}
	var missing, extra, differ []string
	inBackup := map[string]bool{}
	for _, th := range c.tables {
		inBackup[th.Name] = true
		t, ok := target[th.Name]
		if !ok {
			missing = append(missing, th.Name)
			continue
		}
		a, b := slices.Clone(th.Columns), slices.Clone(t.columns)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			differ = append(differ, th.Name)
		}
	}
	for _, name := range sortedKeys(target) {
		if !inBackup[name] {
			extra = append(extra, name)
		}
	}
	if len(missing)+len(extra)+len(differ) > 0 {
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, "tables missing from the database: "+strings.Join(missing, ", "))
		}
		if len(extra) > 0 {
			parts = append(parts, "tables not in the backup: "+strings.Join(extra, ", "))
		}
		if len(differ) > 0 {
			parts = append(parts, "tables whose columns differ: "+strings.Join(differ, ", "))
		}
		return nil, fmt.Errorf("cannot restore: the database's schema does not match the backup's (%s); %s", strings.Join(parts, "; "), redo)
	}
	if len(tabs) > 0 {
		names := make([]string, len(tabs))
		for i, t := range tabs {
			names[i] = t.qualified()
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(names, ", ")+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return nil, restoreError("lock the tables", err)
		}
	}
	for _, t := range tabs {
		if t.name == migrationsTable {
			continue
		}
		var rows bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+t.qualified()+")").Scan(&rows); err != nil {
			return nil, restoreError("check that table "+t.name+" is empty", err)
		}
		if rows {
			return nil, fmt.Errorf("cannot restore: the database is not empty (table %s has rows); %s", t.name, redo)
		}
	}
	for _, s := range c.sequences {
		if _, err := targetSequence(ctx, tx, s, target); err != nil {
			return nil, err
		}
	}
	return target, nil
}

// targetSequence finds the database's sequence for a SEQUENCE line: the one owned by the same
// column, else the one of the same name.
func targetSequence(ctx context.Context, tx pgx.Tx, s sequenceValue, target map[string]table) (string, error) {
	var name *string
	if s.Table != "" {
		t, ok := target[s.Table]
		if !ok {
			return "", fmt.Errorf("cannot restore: the backup has a sequence for table %s, which the database lacks; make sure the database's schema is at the backup's version", s.Table)
		}
		if err := tx.QueryRow(ctx, "SELECT pg_get_serial_sequence($1, $2)", t.qualified(), s.Column).Scan(&name); err != nil {
			return "", restoreError("find the sequence of "+s.Table+"."+s.Column, err)
		}
	} else {
		q := pgx.Identifier{"public", s.Name}.Sanitize()
		if err := tx.QueryRow(ctx, "SELECT $1::text FROM pg_class WHERE oid = to_regclass($1) AND relkind = 'S'", q).Scan(&name); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return "", restoreError("find sequence "+s.Name, err)
		}
	}
	if name == nil {
		return "", fmt.Errorf("cannot restore: the database has no sequence %s, which the backup has; make sure the database's schema is at the backup's version", s.Name)
	}
	return *name, nil
}

// setSequence sets a sequence so that its next value is above every restored id of its column and
// not below the next value it had when the backup was taken.
func setSequence(ctx context.Context, tx pgx.Tx, s sequenceValue, target map[string]table) error {
	name, err := targetSequence(ctx, tx, s, target)
	if err != nil {
		return err
	}
	value, called := s.LastValue, s.IsCalled
	if s.Table != "" {
		var highest *int64
		q := "SELECT max(" + pgx.Identifier{s.Column}.Sanitize() + ")::bigint FROM " + target[s.Table].qualified()
		if err := tx.QueryRow(ctx, q).Scan(&highest); err != nil {
			return restoreError("read the highest id of "+s.Table, err)
		}
		if highest != nil && (*highest > value || (*highest == value && !called)) {
			value, called = *highest, true
		}
	}
	if _, err := tx.Exec(ctx, "SELECT setval($1::text::regclass, $2, $3)", name, value, called); err != nil {
		return restoreError("set sequence "+s.Name, err)
	}
	return nil
}

// restoreError reports a failed step. PostgreSQL's own message is left out: while loading rows it
// can quote them.
func restoreError(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the restore was cancelled or timed out (during: %s); nothing was restored: %w", what, err)
	}
	return fmt.Errorf("cannot restore (%s: %s); nothing was restored: check that the database is empty and its schema is at the backup's version", what, pgReason(err))
}
