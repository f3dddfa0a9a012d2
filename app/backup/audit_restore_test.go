package backup

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/store"
)

// TestRestoredAuditTrailVerifies: a backup holds sealed rows, rows not sealed yet, and a seal whose
// transaction-id range reaches far beyond the restoring cluster's ids (as after upgrade-postgres
// into a new cluster, whose ids start low again). After the restore the whole trail verifies, and
// rows written afterwards (whose ids fall inside that old range) are sealed and verify too.
func TestRestoredAuditTrailVerifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := freshDB(t)
	exec(t, src, `INSERT INTO audit_log (action, status) VALUES ('read', 200), ('update', 200)`)
	// A seal over [its ids, current + 10^9): a cluster whose ids were far ahead of this one.
	exec(t, src, `SELECT audit_seal_range(audit_lock_head(), (pg_current_xact_id()::text::numeric + 1000000000)::text::xid8)`)
	// A row of that cluster written after the seal, left unsealed (a restore copies rows as they are).
	exec(t, src, `BEGIN; SELECT set_config('healthcare.audit_restore', 'on', true);
		INSERT INTO audit_log (seq, action, status, txid) SELECT max(seq) + 1, 'delete', 204,
		(pg_current_xact_id()::text::numeric + 1000000005)::text::xid8 FROM audit_log; COMMIT`)

	path := filepath.Join(t.TempDir(), FileName(time.Now(), 1))
	if _, err := WriteFile(ctx, src, path, DumpOptions{Program: "healthcare test"}); err != nil {
		t.Fatal(err)
	}
	dst, url := freshDB(t)
	if _, err := Restore(ctx, dst, path); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool, 0)
	v, brk, err := st.VerifyAudit(ctx)
	if err != nil || brk != nil || v.Rows != 3 || v.Seals != 2 {
		t.Fatalf("after the restore: %+v, break %v, %v; want 3 rows in 2 seals", v, brk, err)
	}
	for i := 0; i < 3; i++ {
		if err := st.AppendAudit(ctx, store.AuditEvent{Action: "read", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		v, brk, err = st.VerifyAudit(ctx)
		if err != nil || brk != nil {
			t.Fatalf("after new rows: %+v, break %v, %v", v, brk, err)
		}
		if v.Pending == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v.Rows != 6 || v.Pending != 0 {
		t.Fatalf("after new rows: %+v; want 6 rows sealed", v)
	}
}
