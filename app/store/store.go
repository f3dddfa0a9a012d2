// Package store holds all SQL of the appliance. Every function that reads or writes patient data
// takes the caller's user id and puts it in the query's WHERE clause, so a query that forgets the
// owner cannot be written by accident. Handlers never build SQL; this package never sees HTTP.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound means no row matched, including rows that exist but belong to someone else.
var ErrNotFound = errors.New("not found")

// Querier is what a query runs on: *pgxpool.Pool and pgx.Tx both satisfy it.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	_ Querier = (*pgxpool.Pool)(nil)
	_ Querier = pgx.Tx(nil)
)

// Store runs the application's queries on the pool, or inside InTx on one transaction.
type Store struct {
	pool    *pgxpool.Pool
	db      timed  // the pool or the transaction; every query goes through it
	tx      pgx.Tx // non-nil inside InTx
	timeout time.Duration
	// Outside a transaction, the reads behind every authenticated request are coalesced: the
	// session checks that answer a read (GET one patient, a patient's doctors) apart from those
	// that do not (the requests that then write or list), so that only the first overlap.
	sessions       *coalescer[sessionKey, SessionCheck]
	sessionReads   *coalescer[sessionKey, SessionCheck]
	patients       *coalescer[patientKey, Patient]
	patientDoctors *coalescer[patientKey, []Doctor]
	doctorLists    *coalescer[doctorListKey, doctorList]
	// ... and so are the creations of patients (one commit for all: see createPatients).
	patientCreates *coalescer[patientCreate, Patient]

	searches *searchLimit
	// copyTracer is the connections' tracer, told of the audit COPY that bypasses pgx.CopyFrom
	// (nil without one).
	copyTracer pgx.CopyFromTracer
}

// New returns a Store; timeout bounds every query (0 means 10 s).
func New(pool *pgxpool.Pool, timeout time.Duration) *Store {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	s := &Store{pool: pool, db: timed{q: pool, timeout: timeout}, timeout: timeout}
	s.sessions = newCoalescer(timeout, s.userSessions)
	s.sessionReads = newCoalescer(timeout, s.userSessions)
	s.patients = newCoalescer(timeout, s.getPatients)
	s.patientDoctors = newCoalescer(timeout, s.patientDoctorsOf)
	s.doctorLists = newCoalescer(timeout, s.doctorListsOf)
	s.patientCreates = newCoalescer(timeout, s.createPatients)
	// Only reads overlap their batches (see coalescer). A second creation transaction beside the
	// first cost PostgreSQL a third more CPU per creation and created no more patients per
	// second (go run ./bench, (d)); overlapping the session checks of creations made (d) 4-13 %
	// slower (they compete with the creations' commits for the CPUs); identical doctor lists
	// share one query per batch, so fewer, larger batches serve them best.
	s.sessions.maxRun, s.patientCreates.maxRun, s.doctorLists.maxRun = 1, 1, 1
	cfg := pool.Config()
	s.searches = newSearchLimit(timeout, int(cfg.MaxConns))
	s.copyTracer, _ = cfg.ConnConfig.Tracer.(pgx.CopyFromTracer)
	return s
}

// Pool exposes the pool for readiness checks and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// InTx runs fn with a Store whose queries share one transaction: committed when fn returns nil,
// rolled back when it returns an error or panics. Called on the Store fn received, InTx runs the
// inner fn in the same transaction: only the outermost InTx commits or rolls back.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) (err error) {
	return s.inTx(ctx, pgx.TxOptions{}, fn)
}

// inTx is InTx with the options of a transaction it begins.
func (s *Store) inTx(ctx context.Context, opts pgx.TxOptions, fn func(tx *Store) error) (err error) {
	if s.tx != nil {
		return fn(s)
	}
	bctx, cancel := context.WithTimeout(ctx, s.timeout)
	tx, err := s.pool.BeginTx(bctx, opts)
	cancel()
	if err != nil {
		return err
	}
	rollback := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}
	defer func() {
		if p := recover(); p != nil {
			rollback()
			panic(p)
		}
		if err != nil {
			rollback() // after a failed commit too: a no-op then
		}
	}()
	if err := fn(&Store{pool: s.pool, db: timed{q: tx, timeout: s.timeout}, tx: tx, timeout: s.timeout, searches: s.searches}); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return tx.Commit(cctx)
}

// timed bounds each query's time: the one place the store's timeout is applied. A query's rows
// keep its deadline until they are read (Scan, or the last Next) or closed.
type timed struct {
	q       Querier
	timeout time.Duration
}

func (t timed) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	return t.q.Exec(ctx, sql, args...)
}

func (t timed) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	rows, err := t.q.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return nil, err
	}
	return timedRows{Rows: rows, cancel: cancel}, nil
}

func (t timed) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	return timedRow{row: t.q.QueryRow(ctx, sql, args...), cancel: cancel}
}

type timedRow struct {
	row    pgx.Row
	cancel context.CancelFunc
}

func (r timedRow) Scan(dest ...any) error {
	defer r.cancel()
	return r.row.Scan(dest...)
}

type timedRows struct {
	pgx.Rows
	cancel context.CancelFunc
}

func (r timedRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.cancel() // the rows are closed now
	return false
}

func (r timedRows) Close() {
	r.Rows.Close()
	r.cancel()
}

// ListQuery is a bounded, searchable, ordered list request. Ordering is an API field name that
// the store maps to a column through its own allow-list; empty means id ascending.
type ListQuery struct {
	Limit      int
	Offset     int
	Search     string
	Ordering   string
	Descending bool
	Filters    map[string]string // exact-match filters, e.g. specialization, gender
}

// UniqueViolation returns the constraint name when err is a unique violation, else "".
// Callers map it to the same 400 a sequential duplicate gets, so a race never becomes a 500.
func UniqueViolation(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return pe.ConstraintName
	}
	return ""
}

// ForeignKeyViolation returns the constraint name when err is a foreign-key violation, else "".
func ForeignKeyViolation(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return pe.ConstraintName
	}
	return ""
}

// notFound maps pgx's no-rows error to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
