package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// table is one of the original's tables and where it goes.
type table struct {
	source  string   // the original's table
	target  string   // ours
	temp    string   // the temporary table it is loaded into
	columns []string // the original's columns read, in temp's column order
	typed   string   // temp's column definitions
}

// The original's four tables, in the order of their references (users before the patients they
// own, patients and doctors before their assignments). Types are the widest the original's
// migration allows, so every row loads and is judged afterwards, in SQL, with a reason (the
// columns of that judgement are added to each: see checks.go). The ids are the original's primary
// keys, so unique; only the small tables get an index, which the checks of each patient use: on
// the large ones an index would only slow the loading and every update of the checks (measured:
// the first import of 100,000 patients and 300,000 assignments 16 s → 10 s).
var tables = []table{
	{source: "auth_user", target: "users", temp: "import_users",
		columns: []string{"id", "password", "last_login", "is_superuser", "username", "first_name", "last_name", "email", "is_staff", "is_active", "date_joined"},
		typed: `id bigint PRIMARY KEY, password text, last_login timestamptz, is_superuser boolean, username text,
			first_name text, last_name text, email text, is_staff boolean, is_active boolean, date_joined timestamptz`},
	{source: "api_doctor", target: "doctors", temp: "import_doctors",
		columns: []string{"id", "name", "specialization", "contact_info", "created_at", "updated_at"},
		typed:   `id bigint PRIMARY KEY, name text, specialization text, contact_info text, created_at timestamptz, updated_at timestamptz`},
	{source: "api_patient", target: "patients", temp: "import_patients",
		columns: []string{"id", "name", "age", "gender", "address", "phone_number", "created_at", "updated_at", "managed_by_id"},
		typed: `id bigint, name text, age bigint, gender text, address text, phone_number text,
			created_at timestamptz, updated_at timestamptz, managed_by_id bigint`},
	{source: "api_patientdoctormapping", target: "assignments", temp: "import_mappings",
		columns: []string{"id", "assigned_at", "doctor_id", "patient_id"},
		typed:   `id bigint, assigned_at timestamptz, doctor_id bigint, patient_id bigint`},
}

// openSource connects to the original's database and opens the one transaction everything is
// read in: REPEATABLE READ, so the four tables are one consistent snapshot, and READ ONLY (the
// session's default too), so the importer cannot change the original even by mistake.
func openSource(ctx context.Context, dsn string) (*pgx.Conn, pgx.Tx, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the address, password included: say what is wrong without it.
		return nil, nil, errors.New("the original database's address is not a valid PostgreSQL URL (postgres://user:password@host:5432/dbname) or key=value string")
	}
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	cfg.RuntimeParams["application_name"] = "healthcare import"
	// COPY's text format is read back by our server: dates in ISO form, times in UTC.
	cfg.RuntimeParams["DateStyle"] = "ISO, YMD"
	cfg.RuntimeParams["TimeZone"] = "UTC"
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot connect to the original database (%s): %v", describeSource(cfg), connectCause(err))
	}
	tx, err := conn.BeginTx(cctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		conn.Close(context.Background())
		return nil, nil, fmt.Errorf("cannot start a read-only transaction on the original database: %v", err)
	}
	return conn, tx, nil
}

// describeSource names the original's database without its password.
func describeSource(cfg *pgx.ConnConfig) string {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), Path: "/" + cfg.Database}
	if strings.HasPrefix(cfg.Host, "/") {
		u.Host, u.RawQuery = "", "host="+cfg.Host
	}
	if cfg.User != "" {
		u.User = url.User(cfg.User)
	}
	return u.String()
}

// Describe names the database dsn points to, without its password (for the command's output).
func Describe(dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "(invalid address)"
	}
	return describeSource(cfg)
}

// connectCause is the last, most specific part of a pgconn connection error.
func connectCause(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		msg = msg[i+3:]
	}
	return msg
}

// checkSource verifies that the original's four tables exist with the columns read; it names what
// is missing, which is how a wrong database (DB_NAME) shows.
func checkSource(ctx context.Context, tx pgx.Tx) error {
	for _, t := range tables {
		var cols []string
		err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(attname::text), '{}') FROM pg_attribute
			WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`, t.source).Scan(&cols)
		if err != nil {
			return fmt.Errorf("cannot read the original database's table %s: %v", t.source, err)
		}
		if len(cols) == 0 {
			return fmt.Errorf("the original database has no table %s: is it the original system's database (DB_NAME, or the database name in --from)?", t.source)
		}
		have := map[string]bool{}
		for _, c := range cols {
			have[c] = true
		}
		var missing []string
		for _, c := range t.columns {
			if !have[c] {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return fmt.Errorf("the original database's table %s has no column %s: it is not the original system's schema", t.source, strings.Join(missing, ", "))
		}
	}
	return nil
}

// copyTable streams one of the original's tables into its temporary table here, with COPY on both
// ends (text format, through a pipe: nothing is held in memory), reporting the rows copied so far.
func copyTable(ctx context.Context, src, dst *pgconn.PgConn, t table, progress func(rows int64)) (int64, error) {
	cols := strings.Join(t.columns, ", ")
	out := fmt.Sprintf("COPY (SELECT %s FROM %s) TO STDOUT", cols, t.source)
	in := fmt.Sprintf("COPY %s (%s) FROM STDIN", t.temp, cols)
	pr, pw := io.Pipe()
	counter := &rowCounter{w: pw, progress: progress}
	readErr := make(chan error, 1)
	go func() {
		_, err := src.CopyTo(ctx, counter, out)
		pw.CloseWithError(err) // nil: the reader sees the end of the data
		readErr <- err
	}()
	tag, err := dst.CopyFrom(ctx, pr, in)
	pr.CloseWithError(errors.New("the import stopped")) // unblocks the reader if we stopped early
	if rerr := <-readErr; rerr != nil {
		return 0, fmt.Errorf("cannot read %s from the original database: %v", t.source, rerr)
	}
	if err != nil {
		return 0, fmt.Errorf("cannot load %s: %v", t.source, err)
	}
	return tag.RowsAffected(), nil
}

// rowCounter counts the rows of a text-format COPY stream (one line each: newlines inside values
// are escaped) as they pass.
type rowCounter struct {
	w        io.Writer
	rows     atomic.Int64
	progress func(int64)
	last     time.Time
}

func (c *rowCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	for _, b := range p[:n] {
		if b == '\n' {
			c.rows.Add(1)
		}
	}
	if c.progress != nil && time.Since(c.last) > 100*time.Millisecond {
		c.last = time.Now()
		c.progress(c.rows.Load())
	}
	return n, err
}

// SourceFromEnv builds the original's database address from its settings, DB_NAME, DB_USER,
// DB_PASSWORD, DB_HOST and DB_PORT, exactly as the original's Django read them: each one empty
// or unset is left out, so PostgreSQL's defaults apply as they did for it (PGHOST and the other
// PG* variables, the local socket or localhost, port 5432, the system user). ok is false when
// DB_NAME is unset or empty.
func SourceFromEnv(env map[string]string) (dsn string, ok bool) {
	if env["DB_NAME"] == "" {
		return "", false
	}
	var parts []string
	for _, kv := range [][2]string{{"dbname", "DB_NAME"}, {"user", "DB_USER"}, {"password", "DB_PASSWORD"}, {"host", "DB_HOST"}, {"port", "DB_PORT"}} {
		if v := env[kv[1]]; v != "" {
			parts = append(parts, kv[0]+"='"+strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v)+"'")
		}
	}
	return strings.Join(parts, " "), true
}
