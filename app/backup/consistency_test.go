package backup

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"healthcare/app/database/dbtest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// While writers keep adding patients, each with its assignment in the same transaction, the dump is
// one snapshot: every dumped assignment's patient is dumped too, and there are as many of each.
// Dump copies patients before assignments; the test makes sure transactions commit between the two
// copies, so a dump reading each table at a different moment would hold orphan assignments (and
// fail to restore). Not parallel: it sets testHookAfterTable.
func TestDumpIsOneSnapshotUnderWrites(t *testing.T) {
	ctx := context.Background()
	url := dbtest.URL(t)
	src := connect(t, url)
	exec(t, src, dbtest.Schema(t))
	exec(t, src, `INSERT INTO users (username, email, password_hash) VALUES ('owner', 'owner@example.com', 'h')`)
	exec(t, src, `INSERT INTO doctors (name, specialization, contact_info) VALUES ('Dr', 'x', 'dr@x')`)
	exec(t, src, `WITH p AS (INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
		SELECT 1, 'Preloaded ' || i, 40, 'F', 'Street ' || i, 'pre' || i FROM generate_series(1, 2000) i RETURNING id)
		INSERT INTO assignments (patient_id, doctor_id) SELECT id, 1 FROM p`)

	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var commits atomic.Int64
	var failure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					var id int64
					if err := tx.QueryRow(ctx, `INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
						VALUES (1, 'Writer', 30, 'M', 'Road', $1) RETURNING id`, fmt.Sprintf("w%d-%d", w, i)).Scan(&id); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, `INSERT INTO assignments (patient_id, doctor_id) VALUES ($1, 1)`, id)
					return err
				})
				if err != nil {
					failure.Store(err)
					return
				}
				commits.Add(1)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	// Let the writers get going, then dump; between the two tables, wait for 20 more commits.
	waitFor := func(n int64) {
		deadline := time.Now().Add(30 * time.Second)
		for commits.Load() < n {
			if time.Now().After(deadline) || failure.Load() != nil {
				t.Errorf("writers stalled at %d commits (want %d): %v", commits.Load(), n, failure.Load())
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor(10)
	var during int64
	testHookAfterTable = func(name string) {
		if name == "patients" {
			during = commits.Load()
			waitFor(during + 20)
		}
	}
	defer func() { testHookAfterTable = nil }()
	path := filepath.Join(t.TempDir(), "live.backup")
	meta, err := WriteFile(ctx, src, path, DumpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testHookAfterTable = nil
	if during == 0 {
		t.Fatal("the hook did not run after the patients table")
	}
	if meta.Tables["patients"] != meta.Tables["assignments"] {
		t.Errorf("the dump holds %d patients and %d assignments; each transaction added one of each", meta.Tables["patients"], meta.Tables["assignments"])
	}
	if meta.Tables["patients"] < 2010 {
		t.Errorf("the dump holds %d patients; the writers had committed at least 10 before it began", meta.Tables["patients"])
	}
	if got := count(t, src, "patients"); got < meta.Tables["patients"]+20 {
		t.Errorf("the source has %d patients, the dump %d: the writers did not commit during the dump", got, meta.Tables["patients"])
	}

	dst, _ := freshDB(t)
	if _, err := Restore(ctx, dst, path); err != nil {
		t.Fatal(err)
	}
	var orphans int64
	if err := dst.QueryRow(ctx, `SELECT count(*) FROM assignments a WHERE NOT EXISTS (SELECT 1 FROM patients p WHERE p.id = a.patient_id)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d restored assignments have no patient", orphans)
	}
	if p, a := count(t, dst, "patients"), count(t, dst, "assignments"); p != meta.Tables["patients"] || a != meta.Tables["assignments"] {
		t.Errorf("restored %d patients and %d assignments, meta says %v", p, a, meta.Tables)
	}
}
