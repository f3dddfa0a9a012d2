package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/database"
	"healthcare/app/database/dbtest"
	"healthcare/app/store"
)

// sealAll seals until no row is pending. Sealing waits for every writing transaction of the
// cluster that began before it, and other tests write in other databases of the same cluster.
func sealAll(t *testing.T, st *store.Store) store.AuditVerified {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		v, brk, err := st.VerifyAudit(context.Background())
		if err != nil || brk != nil {
			t.Fatalf("verify: %+v, break %v, %v", v, brk, err)
		}
		if v.Pending == 0 {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows still pending after a minute", v.Pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func appendRead(ctx context.Context, st *store.Store, i int) error {
	return st.AppendAudit(ctx, store.AuditEvent{Action: "read", Resource: "patient", ResourceID: fmt.Sprint(i), Status: 200})
}

// TestAuditSealsUnderConcurrency: writers commit and roll back audit rows in many transactions
// (single rows, COPY batches, one transaction left open across many seals) while two sealers run,
// as two replicas would; every committed row ends up sealed exactly once and the chain verifies.
func TestAuditSealsUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	st := store.New(pool, 0)

	var committed atomic.Int64
	stop := make(chan struct{})
	var sealers sync.WaitGroup
	var seals atomic.Int64
	for r := 0; r < 2; r++ {
		sealers.Add(1)
		go func() {
			defer sealers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if n, err := st.SealAudit(ctx); err != nil {
					t.Error(err)
					return
				} else if n > 0 {
					seals.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}

	// A transaction open from the start to the end: its row has the lowest txid of all and must be
	// sealed after the rows of the transactions that committed meanwhile.
	long, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := long.Exec(ctx, `INSERT INTO audit_log (action, status) VALUES ('update', 200)`); err != nil {
		t.Fatal(err)
	}

	longDone := make(chan struct{})
	go func() {
		defer close(longDone)
		for committed.Load() < 6*150/3 {
			time.Sleep(time.Millisecond)
		}
		if err := long.Commit(ctx); err != nil {
			t.Error(err)
		}
		committed.Add(1)
	}()
	var writers sync.WaitGroup
	for w := 0; w < 6; w++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; i < 150; i++ {
				switch rand.IntN(4) {
				case 0: // a change and its row, rolled back
					_ = st.InTx(ctx, func(tx *store.Store) error {
						if err := appendRead(ctx, tx, i); err != nil {
							return err
						}
						return fmt.Errorf("rolled back")
					})
				case 1: // a batch of reads
					n := 1 + rand.IntN(20)
					events := make([]store.AuditEvent, n)
					for j := range events {
						events[j] = store.AuditEvent{Action: "read", Resource: "patient", ResourceID: fmt.Sprint(j), Status: 200}
					}
					if err := st.AppendAuditBatch(ctx, events); err != nil {
						t.Error(err)
						return
					}
					committed.Add(int64(n))
				default: // a change committed with its row
					if err := st.InTx(ctx, func(tx *store.Store) error { return appendRead(ctx, tx, i) }); err != nil {
						t.Error(err)
						return
					}
					committed.Add(1)
				}
			}
		}()
	}
	writers.Wait()
	<-longDone
	close(stop)
	sealers.Wait()

	v := sealAll(t, st)
	var rows int64
	_ = pool.QueryRow(ctx, "SELECT count(*) FROM audit_log").Scan(&rows)
	if v.Rows != committed.Load() || rows != committed.Load() {
		t.Fatalf("%d rows committed, %d in the table, %d verified in %d seals", committed.Load(), rows, v.Rows, v.Seals)
	}
	// How many seals were made while writing depends on the other tests' transactions in the
	// cluster (sealing waits for the oldest one): said, not asserted.
	t.Logf("%d rows in %d seals, %d of them made while writing", v.Rows, v.Seals, seals.Load())
}

// superuser runs sql with triggers off, as someone tampering with the database would.
func superuser(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func sealOf(t *testing.T, pool *pgxpool.Pool, seq int64) int64 {
	t.Helper()
	var pos int64
	err := pool.QueryRow(context.Background(), `SELECT pos FROM audit_seal s, audit_log a WHERE a.seq = $1
		AND a.txid >= s.xid_from AND a.txid < s.xid_to AND a.seq > s.floor_seq AND a.seq <= s.max_seq`, seq).Scan(&pos)
	if err != nil {
		t.Fatalf("the seal of row %d: %v", seq, err)
	}
	return pos
}

// TestAuditTamperingIsFound: each way of tampering with sealed rows, made as superuser with the
// triggers off, is reported at the seal that covers the row.
func TestAuditTamperingIsFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name   string
		tamper func(t *testing.T, pool *pgxpool.Pool, victim int64)
		reason string
	}{
		{"changed", func(t *testing.T, pool *pgxpool.Pool, victim int64) {
			superuser(t, pool, "UPDATE audit_log SET status = 403 WHERE seq = $1", victim)
		}, "a row was changed"},
		{"removed", func(t *testing.T, pool *pgxpool.Pool, victim int64) {
			superuser(t, pool, "DELETE FROM audit_log WHERE seq = $1", victim)
		}, "rows were removed or added"},
		{"added into a seal", func(t *testing.T, pool *pgxpool.Pool, victim int64) {
			superuser(t, pool, `INSERT INTO audit_log (seq, action, status, txid) SELECT seq - 1, 'read', 200, txid
				FROM audit_log WHERE seq = $1`, victim)
		}, "rows were removed or added"},
		{"added outside the chain", func(t *testing.T, pool *pgxpool.Pool, victim int64) {
			superuser(t, pool, `INSERT INTO audit_log (seq, action, status, txid) VALUES (1000000, 'read', 200, NULL)`)
		}, "in no seal"},
		{"added with a future transaction", func(t *testing.T, pool *pgxpool.Pool, victim int64) {
			superuser(t, pool, `INSERT INTO audit_log (seq, action, status, txid) VALUES (1000000, 'read', 200,
				(pg_current_xact_id()::text::numeric + 1000000)::text::xid8)`)
		}, "has not happened yet"},
		{"a seal removed", func(t *testing.T, pool *pgxpool.Pool, victim int64) {
			superuser(t, pool, "DELETE FROM audit_seal WHERE pos = $1", sealOf(t, pool, victim))
		}, "missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.Pool(t)
			st := store.New(pool, 0)
			for i := 0; i < 5; i++ {
				if i == 2 { // a rolled-back row: a free seq just before the victim
					_ = st.InTx(ctx, func(tx *store.Store) error { _ = appendRead(ctx, tx, -1); return fmt.Errorf("rolled back") })
				}
				if err := appendRead(ctx, st, i); err != nil {
					t.Fatal(err)
				}
				sealAll(t, st)
			}
			var victim int64
			_ = pool.QueryRow(ctx, "SELECT min(seq) + 3 FROM audit_log").Scan(&victim)
			seal := sealOf(t, pool, victim)
			tc.tamper(t, pool, victim)
			_, brk, err := st.VerifyAudit(ctx)
			if err != nil || brk == nil || !strings.Contains(brk.Reason, tc.reason) {
				t.Fatalf("break %v, %v; want one saying %q", brk, err, tc.reason)
			}
			if !strings.HasPrefix(tc.name, "added outside") && !strings.HasPrefix(tc.name, "added with") && brk.Seal != seal {
				t.Errorf("break at seal %d, the tampered row is in seal %d", brk.Seal, seal)
			}
		})
	}
}

// TestAuditChainAcross0004: a trail written one row at a time under migration 0003 stays the
// first part of the chain after 0004; edits there are still found at their row.
func TestAuditChainAcross0004(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := database.Migrate(ctx, pool, database.MigrateOptions{Target: 3}); err != nil {
		t.Fatal(err)
	}
	st := store.New(pool, 0)
	for i := 0; i < 4; i++ {
		if err := appendRead(ctx, st, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := database.Migrate(ctx, pool, database.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := appendRead(ctx, st, 10+i); err != nil {
			t.Fatal(err)
		}
	}
	v := sealAll(t, st)
	var firstNew int64
	_ = pool.QueryRow(ctx, "SELECT min(seq) FROM audit_log WHERE hash IS NULL").Scan(&firstNew)
	if v.Rows != 7 || firstNew != 5 {
		t.Fatalf("verified %+v, first sealed row %d; want 7 rows, the new ones from 5", v, firstNew)
	}
	superuser(t, pool, "UPDATE audit_log SET username = 'x' WHERE seq = 2")
	_, brk, err := st.VerifyAudit(ctx)
	if err != nil || brk == nil || brk.Seq != 2 || brk.Seal != 0 {
		t.Fatalf("after editing row 2: break %v, %v", brk, err)
	}
}

// TestAuditSealFunctionsAreTheOwners: a role that only writes the trail (the application's, when
// an administrator gave the audit objects to another role, as the README shows) may run the
// sealer, but may neither seal a range of its choosing nor restart sealing as after a restore.
func TestAuditSealFunctionsAreTheOwners(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	role := fmt.Sprintf("audit_writer_%d", time.Now().UnixNano())
	for _, q := range []string{"CREATE ROLE " + role, "GRANT SELECT, INSERT ON audit_log TO " + role,
		"GRANT SELECT ON audit_head, audit_seal TO " + role, "GRANT USAGE ON SEQUENCE audit_log_seq_seq TO " + role} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = pool.Exec(context.Background(), "DROP ROLE "+role)
	})
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET ROLE "+role); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), "RESET ROLE")
	if _, err := conn.Exec(ctx, "INSERT INTO audit_log (action, status) VALUES ('read', 200)"); err != nil {
		t.Fatalf("the writer cannot write: %v", err)
	}
	if _, err := conn.Exec(ctx, "SELECT audit_seal_pending()"); err != nil {
		t.Errorf("the writer cannot run the sealer: %v", err)
	}
	for _, q := range []string{"SELECT audit_restored()",
		"SELECT audit_seal_range(h, pg_current_xact_id()) FROM audit_head h"} {
		if _, err := conn.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: %v, want permission denied", q, err)
		}
	}
}
