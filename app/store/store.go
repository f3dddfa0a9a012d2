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

// Store runs the application's queries on a pool.
type Store struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

// New returns a Store; timeout bounds every query (0 means 10 s).
func New(pool *pgxpool.Pool, timeout time.Duration) *Store {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Store{pool: pool, timeout: timeout}
}

// Pool exposes the pool for readiness checks and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// ctx bounds one query's time.
func (s *Store) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.timeout)
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
