package database

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// QueryStats is a pgx tracer that counts the round trips the pool makes to PostgreSQL and, by
// statement, how often each ran and how long it took. serve --pprof installs it and serves its
// table at /debug/queries, so that what a request costs the database is seen, not guessed
// (go run ./bench -pprof prints the round trips per request). Without --pprof nothing is traced.
type QueryStats struct {
	mu         sync.Mutex
	roundTrips int64
	byText     map[string]*queryStat
}

type queryStat struct {
	label string
	calls int64
	total time.Duration
}

// NewQueryStats returns an empty QueryStats.
func NewQueryStats() *QueryStats { return &QueryStats{byText: map[string]*queryStat{}} }

// WithQueryStats is a Connect option that traces the pool's queries into q.
func WithQueryStats(q *QueryStats) ConnectOption {
	return func(c *pgxpool.Config) { c.ConnConfig.Tracer = q }
}

// ConnectOption changes the pool's configuration before it is opened.
type ConnectOption func(*pgxpool.Config)

var (
	_ pgx.QueryTracer    = (*QueryStats)(nil)
	_ pgx.BatchTracer    = (*QueryStats)(nil)
	_ pgx.CopyFromTracer = (*QueryStats)(nil)
)

type traceKey struct{}

// traced is what a statement's start hands to its end.
type traced struct {
	sql   string
	start time.Time
}

func (q *QueryStats) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traced{d.SQL, time.Now()})
}

func (q *QueryStats) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if t, ok := ctx.Value(traceKey{}).(traced); ok {
		q.add(t.sql, 1, time.Since(t.start), true)
	}
}

// A batch is one round trip, counted with its time on a line "(batch)"; its statements are
// counted on their own lines, without time.
func (q *QueryStats) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traced{start: time.Now()})
}

func (q *QueryStats) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	q.add(d.SQL, 1, 0, false)
}

func (q *QueryStats) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	if t, ok := ctx.Value(traceKey{}).(traced); ok {
		q.add("(batch)", 1, time.Since(t.start), true)
	}
}

func (q *QueryStats) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	return context.WithValue(ctx, traceKey{}, traced{"COPY " + d.TableName.Sanitize(), time.Now()})
}

func (q *QueryStats) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	if t, ok := ctx.Value(traceKey{}).(traced); ok {
		q.add(t.sql, 1, time.Since(t.start), true)
	}
}

func (q *QueryStats) add(sql string, calls int64, took time.Duration, roundTrip bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if roundTrip {
		q.roundTrips++
	}
	s := q.byText[sql]
	if s == nil {
		s = &queryStat{label: statementLabel(sql)}
		q.byText[sql] = s
	}
	s.calls += calls
	s.total += took
}

// RoundTrips is how many times the pool has waited for PostgreSQL: statements, batches and COPYs.
func (q *QueryStats) RoundTrips() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.roundTrips
}

// WriteTo writes the table: the round trips, then a line per statement, the most time first.
// A statement is named by its first 100 characters and a hash of its whole text (statements that
// begin alike stay apart); its values are parameters, never in the text. A query's time runs
// until its rows are closed, so it includes the caller's work on each row.
func (q *QueryStats) WriteTo(w io.Writer) (int64, error) {
	q.mu.Lock()
	stats := make([]queryStat, 0, len(q.byText))
	for _, s := range q.byText {
		stats = append(stats, *s)
	}
	trips := q.roundTrips
	q.mu.Unlock()
	slices.SortFunc(stats, func(a, b queryStat) int { return int(b.total - a.total) })
	var sb strings.Builder
	fmt.Fprintf(&sb, "round_trips %d\n%10s %12s %10s  %s\n", trips, "calls", "total_ms", "mean_us", "statement")
	for _, s := range stats {
		mean := time.Duration(0)
		if s.calls > 0 {
			mean = s.total / time.Duration(s.calls)
		}
		fmt.Fprintf(&sb, "%10d %12.1f %10.1f  %s\n", s.calls, float64(s.total)/1e6, float64(mean)/1e3, s.label)
	}
	n, err := io.WriteString(w, sb.String())
	return int64(n), err
}

// statementLabel is sql on one line, cut to 100 characters, and a hash of sql.
func statementLabel(sql string) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	h := fnv.New32a()
	h.Write([]byte(sql))
	return fmt.Sprintf("%s [%08x]", s, h.Sum32())
}
