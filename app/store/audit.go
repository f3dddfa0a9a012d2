package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	e.prepare()
	f := e.Filters
	if f == nil {
		f = []string{}
	}
	return []any{e.At, e.UserID, e.Username, e.Action, e.Resource, e.ResourceID, e.PatientID, e.Count, f,
		e.Status, e.Address, e.RequestID, e.UserAgent}
}

// prepare sets a missing time and makes the text storable. The texts come from what a client sent
// (its User-Agent, the path, the username it tried), and PostgreSQL refuses text with invalid
// UTF-8 or NUL: one such row would fail the change it records, or a whole batch of other reads'
// records. Such bytes become U+FFFD.
func (e *AuditEvent) prepare() {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	for _, s := range [...]*string{&e.Username, &e.Action, &e.Resource, &e.ResourceID, &e.Address, &e.RequestID, &e.UserAgent} {
		*s = StorableText(*s, "\uFFFD")
	}
	for i, f := range e.Filters {
		e.Filters[i] = StorableText(f, "\uFFFD")
	}
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

// auditWith is the CTE, to append to a data-modifying statement's WITH list, that writes e's row
// in that very statement: one statement is one transaction, so the change never commits without
// its record, in one round trip instead of a transaction's four. src names the CTE of the changed
// row (none: no row); its id column becomes the row's resource id, and its patient id too when
// patient is set. Nil e: "".
func auditWith(args *sqlArgs, e *AuditEvent, src string, patient bool) string {
	if e == nil {
		return ""
	}
	v := e.values()
	ph := make([]string, len(v))
	for i := range v {
		switch {
		case auditColumns[i] == "resource_id":
			ph[i] = src + ".id::text"
		case auditColumns[i] == "patient_id" && patient:
			ph[i] = src + ".id"
		default:
			ph[i] = args.add(v[i])
		}
	}
	return `, audit_row AS (INSERT INTO audit_log (` + strings.Join(auditColumns, ", ") + `)
		SELECT ` + strings.Join(ph, ", ") + ` FROM ` + src + `)`
}

// AppendAuditBatch writes many audit rows in one COPY (one statement: all or none). The rows are
// encoded here, in COPY's binary format, rather than by pgx.CopyFrom: its generic encoding of each
// value was 4 % of the server's CPU under GET one patient, where this costs a fraction of that and
// no allocation per row.
func (s *Store) AppendAuditBatch(ctx context.Context, events []AuditEvent) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	b := auditCopyBuffers.Get().(*[]byte)
	var err error
	if *b, err = appendAuditCopy((*b)[:0], events); err != nil {
		auditCopyBuffers.Put(b)
		return fmt.Errorf("append %d audit rows: %w", len(events), err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		auditCopyBuffers.Put(b)
		return fmt.Errorf("append %d audit rows: %w", len(events), err)
	}
	defer conn.Release()
	// pgx's own CopyFrom tells the connection's tracer (serve --pprof counts round trips): so does this.
	if s.copyTracer != nil {
		ctx = s.copyTracer.TraceCopyFromStart(ctx, conn.Conn(), pgx.TraceCopyFromStartData{TableName: pgx.Identifier{"audit_log"}, ColumnNames: auditColumns})
	}
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(*b), auditCopySQL)
	if s.copyTracer != nil {
		s.copyTracer.TraceCopyFromEnd(ctx, conn.Conn(), pgx.TraceCopyFromEndData{CommandTag: tag, Err: err})
	}
	if err != nil {
		// Not back to the pool: on some error paths pgconn returns before its goroutine has
		// finished reading the buffer.
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && refusedData(pgErr) {
			err = fmt.Errorf("%w: %w", ErrAuditUnstorable, err)
		}
		return fmt.Errorf("append %d audit rows: %w", len(events), err)
	}
	if cap(*b) <= 1<<20 { // an unusually large batch's buffer is not kept
		auditCopyBuffers.Put(b)
	}
	return nil
}

// ErrAuditUnstorable is a batch that cannot be written as it is: a record out of its column's range,
// or one PostgreSQL refused for its data. The same records would fail again, where a lost
// connection may pass on a retry: the recorder writes such a batch record by record.
var ErrAuditUnstorable = errors.New("audit record cannot be stored")

var auditCopySQL = "COPY audit_log (" + strings.Join(auditColumns, ", ") + ") FROM STDIN BINARY"

var auditCopyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// pgEpochMicros is PostgreSQL's epoch, 2000-01-01 UTC, in Unix microseconds.
const pgEpochMicros = 946684800000000

// appendAuditCopy appends events to b as COPY's binary format (header, one tuple per event in
// auditColumns' order, trailer; see "COPY" in PostgreSQL's documentation, and the send functions of
// each type: big-endian integers, timestamptz as microseconds since 2000, text as its bytes, a
// one-dimensional text[] with its element type's oid).
func appendAuditCopy(b []byte, events []AuditEvent) ([]byte, error) {
	b = append(b, "PGCOPY\n\xff\r\n\x00"...)
	b = binary.BigEndian.AppendUint32(b, 0) // flags
	b = binary.BigEndian.AppendUint32(b, 0) // header extension
	text := func(b []byte, s string) []byte {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		return append(b, s...)
	}
	bigint := func(b []byte, p *int64) []byte {
		if p == nil {
			return binary.BigEndian.AppendUint32(b, 0xffffffff) // NULL
		}
		b = binary.BigEndian.AppendUint32(b, 8)
		return binary.BigEndian.AppendUint64(b, uint64(*p))
	}
	integer := func(b []byte, v int) ([]byte, error) {
		if v < math.MinInt32 || v > math.MaxInt32 {
			return b, fmt.Errorf("%w: %d does not fit an integer column", ErrAuditUnstorable, v)
		}
		b = binary.BigEndian.AppendUint32(b, 4)
		return binary.BigEndian.AppendUint32(b, uint32(int32(v))), nil
	}
	var err error
	for i := range events {
		e := &events[i]
		e.prepare()
		b = binary.BigEndian.AppendUint16(b, uint16(len(auditColumns)))
		b = binary.BigEndian.AppendUint32(b, 8)
		b = binary.BigEndian.AppendUint64(b, uint64(e.At.UnixMicro()-pgEpochMicros))
		b = bigint(b, e.UserID)
		b = text(b, e.Username)
		b = text(b, e.Action)
		b = text(b, e.Resource)
		b = text(b, e.ResourceID)
		b = bigint(b, e.PatientID)
		if e.Count == nil {
			b = binary.BigEndian.AppendUint32(b, 0xffffffff)
		} else if b, err = integer(b, *e.Count); err != nil {
			return b, fmt.Errorf("row_count: %w", err)
		}
		// filters: text[], never NULL (an empty array has no dimension).
		at := len(b)
		b = binary.BigEndian.AppendUint32(b, 0) // the array's length, set below
		if len(e.Filters) == 0 {
			b = binary.BigEndian.AppendUint32(b, 0) // dimensions
		} else {
			b = binary.BigEndian.AppendUint32(b, 1)
		}
		b = binary.BigEndian.AppendUint32(b, 0)  // no NULL element
		b = binary.BigEndian.AppendUint32(b, 25) // text's oid
		if len(e.Filters) > 0 {
			b = binary.BigEndian.AppendUint32(b, uint32(len(e.Filters)))
			b = binary.BigEndian.AppendUint32(b, 1) // lower bound
			for _, f := range e.Filters {
				b = text(b, f)
			}
		}
		binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
		if b, err = integer(b, e.Status); err != nil {
			return b, fmt.Errorf("status: %w", err)
		}
		b = text(b, e.Address)
		b = text(b, e.RequestID)
		b = text(b, e.UserAgent)
	}
	return binary.BigEndian.AppendUint16(b, 0xffff), nil // trailer: -1
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

// sealRows is about the most rows one seal takes (its hash is computed over their text at once).
const sealRows = 50000

// SealAudit chains the audit rows of the transactions that have ended since the last seal (see
// migration 0004) and returns how many rows it sealed. Another replica sealing at the same moment
// makes it return 0 at once.
func (s *Store) SealAudit(ctx context.Context) (int64, error) {
	var total int64
	for {
		var n int64
		if err := s.db.QueryRow(ctx, "SELECT audit_seal_pending($1)", sealRows).Scan(&n); err != nil {
			return total, fmt.Errorf("seal the audit trail: %w", err)
		}
		total += n
		if n < sealRows { // a full seal: there may be more
			return total, nil
		}
	}
}

// AuditBreak is the first place the chain does not hold: a row (Seq) or a seal (Seal) of rows.
type AuditBreak struct {
	Seq    int64
	Seal   int64
	Reason string
}

func (b *AuditBreak) String() string {
	if b.Seal > 0 {
		return fmt.Sprintf("seal %d: %s", b.Seal, b.Reason)
	}
	return fmt.Sprintf("row %d: %s", b.Seq, b.Reason)
}

// AuditVerified is what VerifyAudit checked.
type AuditVerified struct {
	Rows    int64 // rows whose hash was recomputed
	Seals   int64 // seals walked
	Pending int64 // rows of transactions still running, not yet sealed
}

type auditHead struct {
	seq, purgedSeq, sealPos, purgedPos, floorSeq int64
	hash, purgedHash                             []byte
	sealedXmin                                   string
}

// VerifyAudit seals what can be sealed, then walks the whole chain in order: first the rows chained
// one by one before migration 0004 (consecutive seq numbers from the purged prefix on, each
// prev_hash the hash before it, each hash recomputed from the row), then the seals (consecutive,
// each prev_hash the hash before it, each hash and row count recomputed from the rows it covers),
// ending on the head; and every row must be in the chain or still pending. It returns what it
// checked and the first break (nil when the chain holds).
func (s *Store) VerifyAudit(ctx context.Context) (AuditVerified, *AuditBreak, error) {
	var v AuditVerified
	if _, err := s.SealAudit(ctx); err != nil {
		return v, nil, err
	}
	// One snapshot for the head, the rows and the seals: the server's sealer (every 10 s) and the
	// retention job may move the head between two statements.
	var brk *AuditBreak
	err := s.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx *Store) error {
		var err error
		v, brk, err = tx.verifyAudit(ctx)
		return err
	})
	return v, brk, err
}

func (s *Store) verifyAudit(ctx context.Context) (AuditVerified, *AuditBreak, error) {
	var v AuditVerified
	var h auditHead
	err := s.db.QueryRow(ctx, `SELECT seq, hash, purged_seq, purged_hash, seal_pos, purged_pos, floor_seq, sealed_xmin::text
		FROM audit_head UNION ALL SELECT 0, sha256('healthcare audit'::bytea), 0, sha256('healthcare audit'::bytea), 0, 0, 0, '0'
		WHERE NOT EXISTS (SELECT 1 FROM audit_head)`).Scan(&h.seq, &h.hash, &h.purgedSeq, &h.purgedHash,
		&h.sealPos, &h.purgedPos, &h.floorSeq, &h.sealedXmin)
	if err != nil {
		return v, nil, fmt.Errorf("read the audit head: %w", err)
	}
	prev, brk, err := s.verifyRows(ctx, h, &v)
	if err != nil || brk != nil {
		return v, brk, err
	}
	if brk, err := s.verifySeals(ctx, h, prev, &v); err != nil || brk != nil {
		return v, brk, err
	}
	// Every row is either chained one by one, in a seal, or pending; anything else was added
	// outside the application's path.
	var total int64
	err = s.db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE hash IS NULL AND txid >= $1::text::xid8
		AND seq > $2) FROM audit_log`, h.sealedXmin, h.floorSeq).Scan(&total, &v.Pending)
	if err != nil {
		return v, nil, err
	}
	// A pending row naming a transaction id not given out yet was not written by a transaction.
	var future int64
	if err := s.db.QueryRow(ctx, `SELECT coalesce(min(seq), 0) FROM audit_log WHERE hash IS NULL
		AND txid >= pg_snapshot_xmax(pg_current_snapshot()) AND seq > $1`, h.floorSeq).Scan(&future); err != nil {
		return v, nil, err
	}
	if future > 0 {
		return v, &AuditBreak{Seq: future, Reason: "it names a transaction that has not happened yet (added outside the application's path)"}, nil
	}
	if outside := total - v.Rows - v.Pending; outside != 0 {
		var first int64
		_ = s.db.QueryRow(ctx, `SELECT coalesce(min(seq), 0) FROM audit_log a WHERE hash IS NULL
			AND NOT (txid >= $1::text::xid8 AND seq > $2) AND NOT EXISTS (SELECT 1 FROM audit_seal s
			WHERE a.txid >= s.xid_from AND a.txid < s.xid_to AND a.seq > s.floor_seq AND a.seq <= s.max_seq)`,
			h.sealedXmin, h.floorSeq).Scan(&first)
		return v, &AuditBreak{Seq: first, Reason: fmt.Sprintf("%d rows are in no seal (added outside the application's path)", outside)}, nil
	}
	return v, nil, nil
}

// verifyRows walks the rows chained one by one (before migration 0004) and returns the last hash.
func (s *Store) verifyRows(ctx context.Context, h auditHead, v *AuditVerified) ([]byte, *AuditBreak, error) {
	const chunk = 5000
	prev, last := h.purgedHash, h.purgedSeq
	for {
		rows, err := s.db.Query(ctx, `SELECT seq, prev_hash, hash, audit_row_hash(prev_hash, a) FROM audit_log a
			WHERE hash IS NOT NULL AND seq > $1 ORDER BY seq LIMIT `+strconv.Itoa(chunk), last)
		if err != nil {
			return nil, nil, err
		}
		got := 0
		var brk *AuditBreak
		for rows.Next() {
			got++
			var seq int64
			var p, hh, computed []byte
			if err := rows.Scan(&seq, &p, &hh, &computed); err != nil {
				rows.Close()
				return nil, nil, err
			}
			switch {
			case brk != nil:
			case seq != last+1:
				brk = &AuditBreak{Seq: last + 1, Reason: fmt.Sprintf("rows %d to %d are missing", last+1, seq-1)}
			case string(p) != string(prev):
				brk = &AuditBreak{Seq: seq, Reason: "its prev_hash is not the hash of the row before it"}
			case string(hh) != string(computed):
				brk = &AuditBreak{Seq: seq, Reason: "its content does not match its hash (the row was changed)"}
			}
			if brk == nil {
				v.Rows++
				last, prev = seq, hh
			}
		}
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
		if brk != nil {
			return nil, brk, nil
		}
		if got < chunk {
			break
		}
	}
	if last != h.seq {
		return nil, &AuditBreak{Seq: last + 1, Reason: fmt.Sprintf("the head says the last row chained one by one is %d, the table ends at %d", h.seq, last)}, nil
	}
	return prev, nil, nil
}

// verifySeals walks the seals after the purged ones, recomputing each from the rows it covers.
func (s *Store) verifySeals(ctx context.Context, h auditHead, prev []byte, v *AuditVerified) (*AuditBreak, error) {
	const chunk = 1000
	last := h.purgedPos
	walked := false
	var span struct {
		floor, maxSeq int64
		to            uint64
	}
	if h.purgedPos > 0 {
		prev = h.purgedHash
	}
	for {
		rows, err := s.db.Query(ctx, `SELECT s.pos, s.prev_hash, s.hash, s.row_count, s.min_seq, c.row_count, c.hash,
			s.floor_seq, s.max_seq, s.xid_from::text, s.xid_to::text
			FROM (SELECT *, (SELECT min(seq) FROM audit_log a WHERE a.txid >= x.xid_from AND a.txid < x.xid_to
			      AND a.seq > x.floor_seq AND a.seq <= x.max_seq) AS min_seq FROM audit_seal x
			      WHERE pos > $1 ORDER BY pos LIMIT `+strconv.Itoa(chunk)+`) s,
			LATERAL audit_seal_hash(s.prev_hash, s.pos, s.floor_seq, s.max_seq, s.xid_from, s.xid_to) c
			ORDER BY s.pos`, last)
		if err != nil {
			return nil, err
		}
		got := 0
		var brk *AuditBreak
		for rows.Next() {
			got++
			var pos, count, gotCount, floor, maxSeq int64
			var minSeq *int64
			var p, hh, computed []byte
			var fromText, toText string
			if err := rows.Scan(&pos, &p, &hh, &count, &minSeq, &gotCount, &computed, &floor, &maxSeq, &fromText, &toText); err != nil {
				rows.Close()
				return nil, err
			}
			from, _ := strconv.ParseUint(fromText, 10, 64)
			to, _ := strconv.ParseUint(toText, 10, 64)
			first := int64(0)
			if minSeq != nil {
				first = *minSeq
			}
			switch {
			case brk != nil:
			case pos != last+1:
				brk = &AuditBreak{Seal: last + 1, Seq: first, Reason: fmt.Sprintf("seals %d to %d are missing", last+1, pos-1)}
			case string(p) != string(prev):
				brk = &AuditBreak{Seal: pos, Seq: first, Reason: "its prev_hash is not the hash of the seal before it"}
			case gotCount != count:
				brk = &AuditBreak{Seal: pos, Seq: first, Reason: fmt.Sprintf("it sealed %d rows, %d are there now (rows were removed or added)", count, gotCount)}
			case string(hh) != string(computed):
				brk = &AuditBreak{Seal: pos, Seq: first, Reason: "its rows do not match its hash (a row was changed)"}
			case walked && (floor < span.floor || floor == span.floor && from < span.to || floor > span.floor && floor < span.maxSeq):
				// Seals never overlap: the same rows counted twice would make up for rows in no seal.
				brk = &AuditBreak{Seal: pos, Seq: first, Reason: "its range overlaps the seals before it"}
			}
			if brk == nil {
				v.Seals++
				v.Rows += count
				last, prev = pos, hh
				walked = true
				span.floor, span.to, span.maxSeq = floor, to, max(span.maxSeq, maxSeq)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if brk != nil {
			return brk, nil
		}
		if got < chunk {
			break
		}
	}
	switch {
	case last != h.sealPos:
		return &AuditBreak{Seal: last + 1, Reason: fmt.Sprintf("the head says the last seal is %d, the table ends at %d", h.sealPos, last)}, nil
	case string(prev) != string(h.hash):
		return &AuditBreak{Seal: last, Reason: "the last hash of the chain is not the head's"}, nil
	}
	if walked {
		xmin, _ := strconv.ParseUint(h.sealedXmin, 10, 64)
		if h.floorSeq < span.floor || h.floorSeq == span.floor && xmin < span.to || h.floorSeq > span.floor && h.floorSeq < span.maxSeq {
			return &AuditBreak{Seal: last, Reason: "the head's pending range overlaps the last seal"}, nil
		}
	}
	return nil, nil
}
