package api

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgconn"
)

// RetryAfter is the Retry-After, in seconds, of a 503 for a database that is away: about what a
// restart of the embedded server takes, so a client's retry usually finds it back.
const RetryAfter = 5

// Messages of the answers for a database that cannot do its work.
const (
	MsgDatabaseUnavailable = "The database is not available right now. Try again in a few seconds."
	MsgDiskFull            = "The server's disk is full: nothing was saved. Ask the administrator to free disk space."
)

// probeTimeout bounds the ping that tells a slow query from a database that stopped answering.
const probeTimeout = time.Second

// Unavailable is the 503 for a database that is down, restarting, unreachable or out of
// connections: nothing is wrong with the request, and the same request later may succeed.
func Unavailable() *Error {
	e := Detail(fiber.StatusServiceUnavailable, MsgDatabaseUnavailable)
	e.Header = map[string]string{fiber.HeaderRetryAfter: strconv.Itoa(RetryAfter)}
	return e
}

// DiskFull is the 507 for PostgreSQL's disk_full (SQLSTATE 53100). The statement failed as a
// whole, so nothing of the request was stored.
func DiskFull() *Error { return Detail(fiber.StatusInsufficientStorage, MsgDiskFull) }

// databaseTrouble recognises the errors of a database that cannot do its work right now: the
// 503 or 507 to answer, and a short cause for the log that holds no query argument or row data.
// It returns nil for any other error. ping, when not nil, is asked whether the database answers
// when a query ran out of time: if it does, the query was merely slow and that is not a 503.
func databaseTrouble(ctx context.Context, err error, ping func(context.Context) error) (*Error, string) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// A server error (also one refusing a connection): only these SQLSTATEs mean "not now".
		code := pgErr.Code
		switch {
		case code == "53100":
			return DiskFull(), "the database's disk is full (SQLSTATE 53100)"
		case code == "53000", code == "53200", code == "53300":
			return Unavailable(), "the database is out of resources (SQLSTATE " + code + ")"
		case code == "57P01", code == "57P02", code == "57P03":
			return Unavailable(), "the database is shutting down or starting up (SQLSTATE " + code + ")"
		case strings.HasPrefix(code, "08"):
			return Unavailable(), "the connection to the database failed (SQLSTATE " + code + ")"
		}
		return nil, "" // authentication failed, no such database...: a configuration error, not "not now"
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return Unavailable(), "cannot connect to the database: " + netCause(err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The per-query deadline passed: waiting for a connection (none could be made, or all
		// were busy), or waiting for a query's answer.
		if ping != nil && pgconn.Timeout(err) {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			if ping(pctx) == nil {
				return nil, "" // the database answers: the query was too slow, which is a bug to log
			}
		}
		return Unavailable(), "the database did not answer within database.query_timeout"
	}
	switch {
	case pgconn.SafeToRetry(err):
		return Unavailable(), "the database connection failed before the query was sent: " + netCause(err)
	case fromNetwork(err) || fromPgconn(err) && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		return Unavailable(), "the connection to the database broke: " + netCause(err)
	}
	return nil, ""
}

// fromNetwork reports a failed network operation. The only connections handlers use are the
// database's: the HTTP request's body is read before any handler runs.
func fromNetwork(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// fromPgconn reports an error made by pgconn's connection handling (its error types say whether
// a retry is safe; the server's own errors, PgError, do not).
func fromPgconn(err error) bool {
	var retryable interface{ SafeToRetry() bool }
	return errors.As(err, &retryable)
}

// netCause is the innermost cause of a connection error ("connect: connection refused",
// "unexpected EOF"): pgx's messages around it name the database user and host, which the log
// does not need.
func netCause(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Op + ": " + opErr.Err.Error()
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
