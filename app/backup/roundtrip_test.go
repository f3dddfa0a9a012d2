package backup

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"healthcare/app/database/dbtest"

	"github.com/jackc/pgx/v5"
)

// awkward text values: COPY escapes, quotes, unicode, and a value equal to COPY's end marker.
var awkward = []string{
	"Zoë \"Q\" O'Brien — 患者 🩺",
	"tab\there\\back\\slash",
	"line1\nline2\r\nline3",
	`\.`,
	"\\N",
	"trailing backslash \\",
	strings.Repeat("long address ", 20000), // one row longer than the reader's 64 KiB buffer
}

// fill writes rows of every kind into a schema.sql database.
func fill(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	exec(t, conn, `INSERT INTO users (username, email, password_hash, is_active, date_joined) VALUES
		('alice', 'alice@example.com', '$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo', true, '2024-01-02 03:04:05.123456+00'),
		('bob', 'bob@example.com', 'pbkdf2_sha256$600000$salt$hash=', false, '2024-02-29 23:59:59.999999+00'),
		($1, 'zoe@example.com', '$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234', true, now())`, awkward[0])
	// An explicit id far above the identity's value: the restored identity must pass it.
	exec(t, conn, `INSERT INTO users (id, username, email, password_hash) VALUES (50, 'eve', 'eve@example.com', 'h')`)
	exec(t, conn, `INSERT INTO refresh_families (id, user_id, current_hash, created_at, rotated_at, expires_at, revoked_at) VALUES
		(gen_random_uuid(), 1, '\x00ff5c0a0d095c2e'::bytea, '2024-03-01 10:00:00.000001+00', now(), now() + interval '7 days', NULL),
		(gen_random_uuid(), 2, sha256('token'), now(), now(), now() + interval '1 day', now()),
		('00000000-0000-0000-0000-000000000001', 50, ''::bytea, now(), now(), now(), NULL)`)
	exec(t, conn, `INSERT INTO rate_limits (bucket, window_start, hits) VALUES
		('login:127.0.0.1', '2024-01-01 00:00:00+00', 5), ('register:::1', now(), 1), ($1, now(), 2147483647)`, awkward[1])
	// Three doctors, the last deleted: the identity's value (3) is above the highest id left (2).
	exec(t, conn, `INSERT INTO doctors (name, specialization, contact_info) VALUES
		('Dr. Who', 'Time', 'who@tardis'), ($1, 'Cardio\tlogy', 'a@b'), ('Gone', 'x', 'gone@x')`, awkward[2])
	exec(t, conn, `DELETE FROM doctors WHERE id = 3`)
	for i, a := range awkward {
		owner := []int{1, 2, 3, 50}[i%4]
		exec(t, conn, `INSERT INTO patients (managed_by, name, age, gender, address, phone_number) VALUES ($1, $2, $3, $4, $5, $6)`,
			owner, a[:min(len(a), 255)], i*10, []string{"M", "F", "O"}[i%3], a, "+1555000"+string(rune('0'+i)))
	}
	exec(t, conn, `INSERT INTO assignments (patient_id, doctor_id) SELECT p.id, d.id FROM patients p, doctors d WHERE (p.id + d.id) % 2 = 0`)
	exec(t, conn, `INSERT INTO settings (key, value, updated_by) VALUES ('registration', 'approval', 1), ('patients.visibility', $1, NULL)`, awkward[0])
	exec(t, conn, `INSERT INTO setup_tokens (hash) VALUES (sha256('setup'))`)
	exec(t, conn, `INSERT INTO audit_log (action, resource, resource_id, status) VALUES ('read', 'patient', '1', 200), ('delete', 'patient', '1', 204)`)
	// Sealed as the server does every second (every row above was written by an ended transaction).
	exec(t, conn, `SELECT audit_seal_range(audit_lock_head(), pg_current_xact_id())`)
	exec(t, conn, `UPDATE users SET role = 'admin', must_change_password = true, token_generation = 7, last_login = now() WHERE id = 1`)
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := freshDB(t)
	fill(t, src)

	path := filepath.Join(t.TempDir(), FileName(time.Now(), 1))
	before := time.Now()
	meta, err := WriteFile(ctx, src, path, DumpOptions{Program: "healthcare test"})
	if err != nil {
		t.Fatal(err)
	}
	if meta.FormatVersion != 1 || meta.SchemaVersion != 1 || meta.PostgresVersion == "" || meta.Program != "healthcare test" {
		t.Errorf("meta = %+v", meta)
	}
	if meta.CreatedAt.Before(before.Add(-time.Minute)) || meta.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("CreatedAt %v is not about now", meta.CreatedAt)
	}
	if len(meta.Tables) != len(appTables) {
		t.Errorf("meta.Tables = %v, want the %d tables of schema.sql", meta.Tables, len(appTables))
	}
	for _, tab := range appTables {
		if meta.Tables[tab] != count(t, src, tab) || meta.Tables[tab] == 0 {
			t.Errorf("meta.Tables[%s] = %d, the table has %d rows", tab, meta.Tables[tab], count(t, src, tab))
		}
	}
	read, err := ReadMeta(path)
	if err != nil {
		t.Fatal(err)
	}
	if !read.CreatedAt.Equal(meta.CreatedAt) || read.PostgresVersion != meta.PostgresVersion || read.Program != meta.Program ||
		read.SchemaVersion != meta.SchemaVersion || len(read.Tables) != len(meta.Tables) {
		t.Errorf("ReadMeta = %+v, Dump returned %+v", read, meta)
	}

	dst, _ := freshDB(t)
	restored, err := Restore(ctx, dst, path)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Tables["patients"] != meta.Tables["patients"] {
		t.Errorf("Restore's meta = %+v", restored)
	}
	for _, tab := range appTables {
		want, got := rowsOf(t, src, tab), rowsOf(t, dst, tab)
		if tab == "audit_head" { // the restore starts sealing anew after the restored rows
			q := "SELECT (seq, hash, purged_seq, purged_hash, seal_pos, purged_pos)::text FROM audit_head"
			want, got = queryStrings(t, src, q), queryStrings(t, dst, q)
		}
		if !slices.Equal(want, got) {
			t.Errorf("table %s differs after the round trip: %d rows before, %d after", tab, len(want), len(got))
		}
	}

	// New rows get ids above the restored ones, and above the source's identity values.
	for _, c := range []struct{ table, insert string }{
		{"users", `INSERT INTO users (username, email, password_hash) VALUES ('new', 'new@example.com', 'h') RETURNING id`},
		{"doctors", `INSERT INTO doctors (name, specialization, contact_info) VALUES ('New', 'x', 'new@x') RETURNING id`},
		{"patients", `INSERT INTO patients (managed_by, name, age, gender, address, phone_number) VALUES (1, 'New', 1, 'F', 'a', '1') RETURNING id`},
		// The doctor inserted above has no assignment yet.
		{"assignments", `INSERT INTO assignments (patient_id, doctor_id) SELECT 1, max(id) FROM doctors RETURNING id`},
	} {
		var highest, sourceNext int64
		if err := dst.QueryRow(ctx, "SELECT max(id) FROM "+c.table).Scan(&highest); err != nil {
			t.Fatal(err)
		}
		if err := src.QueryRow(ctx, "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM "+c.table+"_id_seq").Scan(&sourceNext); err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := dst.QueryRow(ctx, c.insert).Scan(&id); err != nil {
			t.Fatalf("insert into %s after restore: %v", c.table, err)
		}
		if id <= highest || id < sourceNext {
			t.Errorf("new %s row got id %d; restored ids go up to %d, the source would give %d next", c.table, id, highest, sourceNext)
		}
	}
}

// The restore needs an empty database whose schema is at the backup's version, and checks so
// before writing.
func TestRestoreRefusesUnsuitableDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := freshDB(t)
	fill(t, src)
	path := filepath.Join(t.TempDir(), "b.backup")
	if _, err := WriteFile(ctx, src, path, DumpOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("not empty", func(t *testing.T) {
		dst, _ := freshDB(t)
		exec(t, dst, `INSERT INTO doctors (name, specialization, contact_info) VALUES ('Here', 'x', 'here@x')`)
		_, err := Restore(ctx, dst, path)
		if err == nil || !strings.Contains(err.Error(), "not empty (table doctors has rows)") {
			t.Fatalf("err = %v", err)
		}
		if count(t, dst, "users") != 0 || count(t, dst, "doctors") != 1 {
			t.Error("the refused restore wrote rows")
		}
	})
	t.Run("no schema", func(t *testing.T) {
		dst := connect(t, dbtest.URL(t))
		_, err := Restore(ctx, dst, path)
		if err == nil || !strings.Contains(err.Error(), "create the schema at version 1") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("other columns", func(t *testing.T) {
		dst, _ := freshDB(t)
		exec(t, dst, `ALTER TABLE patients ADD COLUMN notes text`)
		_, err := Restore(ctx, dst, path)
		if err == nil || !strings.Contains(err.Error(), "tables whose columns differ: patients") {
			t.Fatalf("err = %v", err)
		}
		assertEmpty(t, dst)
	})
	t.Run("row refused, no data in the error", func(t *testing.T) {
		dst, _ := freshDB(t)
		exec(t, dst, `ALTER TABLE patients ADD CONSTRAINT no_long_address CHECK (length(address) < 1000)`)
		_, err := Restore(ctx, dst, path)
		if err == nil || !strings.Contains(err.Error(), "load table patients") || !strings.Contains(err.Error(), "no_long_address") {
			t.Fatalf("err = %v", err)
		}
		for _, a := range awkward {
			if len(a) > 3 && strings.Contains(err.Error(), a[:min(len(a), 20)]) {
				t.Errorf("the error quotes a patient's data: %v", err)
			}
		}
		assertEmpty(t, dst)
	})
}

// schema_migrations is backed up; Restore checks the version against it and restores its rows.
func TestSchemaMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const migrations = `CREATE TABLE schema_migrations (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`
	src, _ := freshDB(t)
	exec(t, src, migrations)
	exec(t, src, `INSERT INTO schema_migrations (version, applied_at) VALUES (1, '2024-01-01 00:00:00+00'), (2, '2024-06-01 12:00:00+00')`)
	exec(t, src, `INSERT INTO users (username, email, password_hash) VALUES ('a', 'a@example.com', 'h')`)
	var buf bytes.Buffer
	meta, err := Dump(ctx, src, &buf, DumpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if meta.SchemaVersion != 2 || meta.Tables["schema_migrations"] != 2 {
		t.Fatalf("meta = %+v, want schema version 2 and schema_migrations backed up", meta)
	}
	path := filepath.Join(t.TempDir(), "m.backup")
	writeBytes(t, path, buf.Bytes())

	behind, _ := freshDB(t)
	exec(t, behind, migrations)
	exec(t, behind, `INSERT INTO schema_migrations (version) VALUES (1)`)
	if _, err := Restore(ctx, behind, path); err == nil || !strings.Contains(err.Error(), "schema is at version 1 but the backup's is at version 2") {
		t.Fatalf("restore into a schema at version 1: err = %v", err)
	}
	assertEmpty(t, behind)

	dst, _ := freshDB(t)
	exec(t, dst, migrations)
	exec(t, dst, `INSERT INTO schema_migrations (version) VALUES (1), (2)`)
	if _, err := Restore(ctx, dst, path); err != nil {
		t.Fatal(err)
	}
	if want, got := rowsOf(t, src, "schema_migrations"), rowsOf(t, dst, "schema_migrations"); !slices.Equal(want, got) {
		t.Errorf("schema_migrations after restore = %v, want the backup's %v", got, want)
	}
	if want, got := rowsOf(t, src, "users"), rowsOf(t, dst, "users"); !slices.Equal(want, got) {
		t.Errorf("users after restore = %v, want %v", got, want)
	}
}
