package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditEvent is one row of the audit trail: who did what to which record, and how it ended. It
// never holds a field value, a password or a token: ids, a row count and filter names only.
type AuditEvent struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	UserID     *int64    `json:"user_id"`
	Username   string    `json:"username"`
	Action     string    `json:"action"`
	Resource   string    `json:"resource"`
	ResourceID string    `json:"resource_id"`
	PatientID  *int64    `json:"patient_id"`
	Count      *int      `json:"count"`
	Filters    []string  `json:"filters"`
	Status     int       `json:"status"`
	Address    string    `json:"client_address"`
	RequestID  string    `json:"request_id"`
	UserAgent  string    `json:"user_agent"`
}

// auditColumns are the columns an append writes (seq and the hashes come from the chain trigger).
var auditColumns = []string{"at", "user_id", "username", "action", "resource", "resource_id", "patient_id",
	"row_count", "filters", "status", "client_address", "request_id", "user_agent"}

func (e *AuditEvent) values() []any {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	f := e.Filters
	if f == nil {
		f = []string{}
	}
	return []any{e.At, e.UserID, e.Username, e.Action, e.Resource, e.ResourceID, e.PatientID, e.Count, f,
		e.Status, e.Address, e.RequestID, e.UserAgent}
}

// AppendAudit writes one audit row; inside InTx it commits (or not) with the change it records.
func (s *Store) AppendAudit(ctx context.Context, e AuditEvent) error {
	_, err := s.db.Exec(ctx, `INSERT INTO audit_log (at, user_id, username, action, resource, resource_id,
		patient_id, row_count, filters, status, client_address, request_id, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, e.values()...)
	if err != nil {
		return fmt.Errorf("append audit row: %w", err)
	}
	return nil
}

// AppendAuditBatch writes many audit rows in one COPY (one statement: all or none).
func (s *Store) AppendAuditBatch(ctx context.Context, events []AuditEvent) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"audit_log"}, auditColumns,
		pgx.CopyFromSlice(len(events), func(i int) ([]any, error) { return events[i].values(), nil }))
	if err != nil {
		return fmt.Errorf("append %d audit rows: %w", len(events), err)
	}
	return nil
}

// AuditFilter selects audit rows; zero fields select everything.
type AuditFilter struct {
	UserID    int64
	Username  string
	PatientID int64
	Action    string
	Resource  string
	From, To  time.Time // at >= From, at < To
	BeforeSeq int64     // rows older than this one (export in chunks)
}

const auditCols = `seq, at, user_id, username, action, resource, resource_id, patient_id, row_count,
	filters, status, client_address, request_id, user_agent`

const auditSelect = "SELECT " + auditCols + " FROM audit_log"

func (f AuditFilter) where(args *sqlArgs) string {
	var c []string
	if f.UserID > 0 {
		c = append(c, "user_id = "+args.add(f.UserID))
	}
	if f.Username != "" {
		c = append(c, "lower(username) = lower("+args.add(f.Username)+")")
	}
	if f.PatientID > 0 {
		c = append(c, "patient_id = "+args.add(f.PatientID))
	}
	if f.Action != "" {
		c = append(c, "action = "+args.add(f.Action))
	}
	if f.Resource != "" {
		c = append(c, "resource = "+args.add(f.Resource))
	}
	if !f.From.IsZero() {
		c = append(c, "at >= "+args.add(f.From))
	}
	if !f.To.IsZero() {
		c = append(c, "at < "+args.add(f.To))
	}
	if f.BeforeSeq > 0 {
		c = append(c, "seq < "+args.add(f.BeforeSeq))
	}
	return where(c...)
}

// ListAudit returns one page of matching audit rows, newest first, and how many match.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter, q ListQuery) ([]AuditEvent, int64, error) {
	var args sqlArgs
	cond := f.where(&args)
	out := make([]AuditEvent, 0, min(q.Limit, 64))
	total, err := s.listPage(ctx, auditCols, "audit_log", "audit_log",
		cond, " ORDER BY seq DESC", args, q, func(rows pgx.Rows) error {
			e, err := scanAudit(rows)
			out = append(out, e)
			return err
		})
	return out, total, err
}

// AuditRows calls fn for every matching row, newest first, reading in chunks (CSV export).
func (s *Store) AuditRows(ctx context.Context, f AuditFilter, fn func(AuditEvent) error) error {
	const chunk = 1000
	for {
		var args sqlArgs
		cond := f.where(&args)
		rows, err := s.db.Query(ctx, auditSelect+cond+" ORDER BY seq DESC LIMIT "+strconv.Itoa(chunk), args...)
		if err != nil {
			return err
		}
		var got []AuditEvent
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				rows.Close()
				return err
			}
			got = append(got, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range got {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(got) < chunk {
			return nil
		}
		f.BeforeSeq = got[len(got)-1].Seq
	}
}

func scanAudit(rows pgx.Rows) (AuditEvent, error) {
	var e AuditEvent
	err := rows.Scan(&e.Seq, &e.At, &e.UserID, &e.Username, &e.Action, &e.Resource, &e.ResourceID, &e.PatientID,
		&e.Count, &e.Filters, &e.Status, &e.Address, &e.RequestID, &e.UserAgent)
	return e, err
}

// PurgeAudit removes the audit rows older than keep through audit_purge(), the one way rows leave
// the trail (PostgreSQL refuses keep under a year).
func (s *Store) PurgeAudit(ctx context.Context, keep time.Duration) (int64, error) {
	var n int64
	err := s.db.QueryRow(ctx, "SELECT audit_purge(make_interval(secs => $1))", keep.Seconds()).Scan(&n)
	return n, err
}

// AuditBreak is the first place the chain does not hold.
type AuditBreak struct {
	Seq    int64
	Reason string
}

// VerifyAudit walks the whole chain in order: consecutive seq numbers from the purged prefix on,
// each prev_hash the hash before it, each hash recomputed from the row, the head on the last row.
// It returns how many rows it checked and the first break (nil when the chain holds).
func (s *Store) VerifyAudit(ctx context.Context) (int64, *AuditBreak, error) {
	var headSeq, purgedSeq int64
	var headHash, prev []byte
	err := s.db.QueryRow(ctx, `SELECT seq, hash, purged_seq, purged_hash FROM audit_head
		UNION ALL SELECT 0, sha256('healthcare audit'::bytea), 0, sha256('healthcare audit'::bytea)
		WHERE NOT EXISTS (SELECT 1 FROM audit_head)`).Scan(&headSeq, &headHash, &purgedSeq, &prev)
	if err != nil {
		return 0, nil, fmt.Errorf("read the audit head: %w", err)
	}
	const chunk = 5000
	var n int64
	last := purgedSeq
	for {
		rows, err := s.db.Query(ctx, `SELECT seq, prev_hash, hash, audit_row_hash(prev_hash, a) FROM audit_log a
			WHERE seq > $1 ORDER BY seq LIMIT `+strconv.Itoa(chunk), last)
		if err != nil {
			return n, nil, err
		}
		got := 0
		var brk *AuditBreak
		for rows.Next() {
			got++
			var seq int64
			var p, h, computed []byte
			if err := rows.Scan(&seq, &p, &h, &computed); err != nil {
				rows.Close()
				return n, nil, err
			}
			switch {
			case brk != nil:
			case seq != last+1:
				brk = &AuditBreak{Seq: last + 1, Reason: fmt.Sprintf("rows %d to %d are missing", last+1, seq-1)}
			case string(p) != string(prev):
				brk = &AuditBreak{Seq: seq, Reason: "its prev_hash is not the hash of the row before it"}
			case string(h) != string(computed):
				brk = &AuditBreak{Seq: seq, Reason: "its content does not match its hash (the row was changed)"}
			}
			if brk == nil {
				n++
				last, prev = seq, h
			}
		}
		if err := rows.Err(); err != nil {
			return n, nil, err
		}
		if brk != nil {
			return n, brk, nil
		}
		if got < chunk {
			break
		}
	}
	switch {
	case last != headSeq:
		return n, &AuditBreak{Seq: last + 1, Reason: fmt.Sprintf("the head says the last row is %d, the table ends at %d", headSeq, last)}, nil
	case string(prev) != string(headHash):
		return n, &AuditBreak{Seq: last, Reason: "the last row's hash is not the head's"}, nil
	}
	return n, nil, nil
}
