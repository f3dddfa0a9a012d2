package store_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/database/dbtest"
	"healthcare/app/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func doctor(contact string) store.DoctorFields {
	name, spec := "Dr "+contact, "General"
	return store.DoctorFields{Name: &name, Specialization: &spec, ContactInfo: &contact}
}

func countDoctors(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM doctors").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	failure := errors.New("the second step failed")
	for _, tc := range []struct {
		name    string
		fn      func(tx *store.Store) error
		wantErr error
		want    int // doctors afterwards
	}{
		{"commits both statements on success", func(tx *store.Store) error {
			if _, err := tx.CreateDoctor(ctx, doctor("a@example.org")); err != nil {
				return err
			}
			_, err := tx.CreateDoctor(ctx, doctor("b@example.org"))
			return err
		}, nil, 2},
		{"rolls back both statements when fn fails", func(tx *store.Store) error {
			if _, err := tx.CreateDoctor(ctx, doctor("a@example.org")); err != nil {
				return err
			}
			if _, err := tx.CreateDoctor(ctx, doctor("b@example.org")); err != nil {
				return err
			}
			return failure
		}, failure, 0},
		{"rolls back when a statement fails", func(tx *store.Store) error {
			if _, err := tx.CreateDoctor(ctx, doctor("a@example.org")); err != nil {
				return err
			}
			_, err := tx.CreateDoctor(ctx, doctor("a@example.org")) // unique violation
			return err
		}, nil, 0},
		{"nested InTx shares the outer transaction", func(tx *store.Store) error {
			if _, err := tx.CreateDoctor(ctx, doctor("a@example.org")); err != nil {
				return err
			}
			err := tx.InTx(ctx, func(inner *store.Store) error {
				// The inner one sees the outer's uncommitted row: same transaction.
				if taken, err := inner.DoctorContactTaken(ctx, "a@example.org", 0); err != nil || !taken {
					return errors.New("the nested transaction does not see the outer one's row")
				}
				_, err := inner.CreateDoctor(ctx, doctor("b@example.org"))
				return err
			})
			if err != nil {
				return err
			}
			return failure // the inner one's row goes too
		}, failure, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.Pool(t)
			st := store.New(pool, 5*time.Second)
			err := st.InTx(ctx, tc.fn)
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) || tc.want > 0 && err != nil {
				t.Fatalf("InTx: %v", err)
			}
			if tc.want == 0 && err == nil {
				t.Fatal("InTx returned nil for a failed fn")
			}
			if n := countDoctors(t, pool); n != tc.want {
				t.Fatalf("%d doctors, want %d", n, tc.want)
			}
			// The pool's connections are all back: the transaction ended.
			if busy := pool.Stat().AcquiredConns(); busy != 0 {
				t.Fatalf("%d connections still acquired", busy)
			}
		})
	}
}

func TestInTxPanicRollsBack(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	st := store.New(pool, 5*time.Second)
	ctx := context.Background()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic was swallowed")
			}
		}()
		st.InTx(ctx, func(tx *store.Store) error {
			if _, err := tx.CreateDoctor(ctx, doctor("a@example.org")); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	if n := countDoctors(t, pool); n != 0 {
		t.Fatalf("%d doctors after a panic", n)
	}
}

// TestQueryTimeout: every query is bounded by the store's timeout, in a transaction too.
func TestQueryTimeout(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	d, err := store.New(pool, 5*time.Second).CreateDoctor(ctx, doctor("a@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	// Another transaction holds the row, so an update waits for it.
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, "SELECT 1 FROM doctors WHERE id = $1 FOR UPDATE", d.ID); err != nil {
		t.Fatal(err)
	}
	st := store.New(pool, 300*time.Millisecond)
	name := "Renamed"
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"pool", func() error {
			_, err := st.UpdateDoctor(ctx, d.ID, store.DoctorFields{Name: &name})
			return err
		}},
		{"transaction", func() error {
			return st.InTx(ctx, func(tx *store.Store) error {
				_, err := tx.UpdateDoctor(ctx, d.ID, store.DoctorFields{Name: &name})
				return err
			})
		}},
	} {
		begin := time.Now()
		err := tc.run()
		if took := time.Since(begin); err == nil || took > 5*time.Second {
			t.Errorf("%s: a blocked update returned %v after %v", tc.name, err, took)
		}
	}
	// Reads that finish in time are unaffected, including row iteration after the query returns.
	// (A loaded machine can make one read slower than 300 ms: a few tries. A timeout that cut the
	// row iteration short would fail every one.)
	var list []store.Doctor
	var total int64
	for try := 0; try < 5; try++ {
		if list, total, err = st.ListDoctors(ctx, store.ListQuery{Limit: 10}); err == nil {
			break
		}
	}
	if err != nil || total != 1 || len(list) != 1 {
		t.Fatalf("list: %v %d %v", list, total, err)
	}
}
