package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"healthcare/app/database/dbtest"
	"healthcare/app/store"
)

// TestReviewVerifyWhileServerSeals: `healthcare audit verify` "works while the server runs": the
// server writes rows and seals every second meanwhile. Verify must not report a break.
func TestReviewVerifyWhileServerSeals(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	server := store.New(pool, 0)
	cli := store.New(pool, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the server: requests write rows, the maintenance job seals
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = appendRead(ctx, server, i)
			_, _ = server.SealAudit(ctx)
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		v, brk, err := cli.VerifyAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if brk != nil {
			t.Fatalf("verify %d: false break while the server seals: %v (%+v)", n, brk, v)
		}
	}
}

// TestReviewOverlappingSealsHideAnUnsealedRow: verify counts "rows in no seal" as total - sum of
// seal counts - pending, so a seal that covers already-sealed rows again makes up for a row left
// in no seal. Made here by the functions' owner (the application's role in embedded mode) with
// plain SELECTs of audit_seal_range, no DDL, no trigger disabled.
func TestReviewOverlappingSealsHideAnUnsealedRow(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	st := store.New(pool, 0)
	sealAll(t, st)
	var tx [3]string
	var seqs [3]int64
	for i := range tx {
		if err := appendRead(ctx, st, i); err != nil {
			t.Fatal(err)
		}
		_ = pool.QueryRow(ctx, "SELECT txid::text, seq FROM audit_log ORDER BY seq DESC LIMIT 1").Scan(&tx[i], &seqs[i])
	}
	seal := func(from, upto string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `SELECT audit_seal_range((SELECT h FROM (SELECT (a).* FROM (SELECT a FROM audit_head a) x) h0,
			LATERAL (SELECT ROW(h0.id, h0.seq, h0.hash, h0.purged_seq, h0.purged_hash, $1::xid8, h0.floor_seq, h0.seal_pos, h0.purged_pos)::audit_head) AS y(h)),
			$2::xid8)`, from, upto); err != nil {
			t.Fatal(err)
		}
	}
	var s string
	_ = pool.QueryRow(ctx, "SELECT sealed_xmin::text FROM audit_head").Scan(&s)
	plus := func(x string) string {
		var y string
		_ = pool.QueryRow(ctx, "SELECT ($1::numeric+1)::text", x).Scan(&y)
		return y
	}
	seal(s, tx[1])                 // row 0
	seal(plus(tx[1]), plus(tx[2])) // row 2: row 1 skipped
	seal(tx[0], plus(tx[0]))       // row 0 again: makes up for row 1 in the count
	seal(plus(tx[2]), plus(tx[2])) // head.sealed_xmin back in front
	v, brk, err := st.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var inNoSeal int64
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM audit_log a WHERE NOT EXISTS (SELECT 1 FROM audit_seal s
		WHERE a.txid >= s.xid_from AND a.txid < s.xid_to AND a.seq > s.floor_seq AND a.seq <= s.max_seq)`).Scan(&inNoSeal)
	if brk == nil && inNoSeal > 0 {
		t.Fatalf("verify passes (%+v) while %d row(s) (seq %d) are in no seal", v, inNoSeal, seqs[1])
	}
}

// TestReviewRestoredHeadWithoutRows: a backup whose audit_log is empty can still hold audit_head
// (the sealer makes it within a second of the first start). Restored into a cluster whose
// transaction ids are lower (a new machine, upgrade-postgres), audit_restored() returns early and
// leaves the other cluster's sealed_xmin: this cluster's rows are then never sealed.
func TestReviewRestoredHeadWithoutRows(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	st := store.New(pool, 0)
	// As Restore leaves it: the other cluster's head (its ids far ahead), no audit row.
	if _, err := pool.Exec(ctx, `INSERT INTO audit_head (id, seq, hash, purged_seq, purged_hash, sealed_xmin)
		VALUES (true, 0, sha256('healthcare audit'::bytea), 0, sha256('healthcare audit'::bytea),
		(pg_current_xact_id()::text::numeric + 100000000)::text::xid8)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "SELECT audit_restored()"); err != nil {
		t.Fatal(err)
	}
	if err := appendRead(ctx, st, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	_, brk, err := st.VerifyAudit(ctx)
	if err != nil || brk != nil {
		t.Fatalf("a row written after the restore: break %v, %v", brk, err)
	}
}
