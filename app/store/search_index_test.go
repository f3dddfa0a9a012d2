package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/database/dbtest"
	"healthcare/app/store"
)

// listTracer records the list queries (those with ILIKE) the store sends, with their arguments.
type listTracer struct {
	mu  sync.Mutex
	got []tracedQuery
}

type tracedQuery struct {
	sql  string
	args []any
}

func (tr *listTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, " ILIKE ") && !strings.HasPrefix(d.SQL, "EXPLAIN") {
		tr.mu.Lock()
		tr.got = append(tr.got, tracedQuery{d.SQL, slices.Clone(d.Args)})
		tr.mu.Unlock()
	}
	return ctx
}

func (tr *listTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (tr *listTracer) take() []tracedQuery {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := tr.got
	tr.got = nil
	return out
}

// searchData fills a fresh database with enough rows that reading them all costs more than asking
// an index (20,000 each of patients, doctors and users, of varied text), plus rows holding the
// characters searches must take literally, and returns a pool set up as the server's
// (force_generic_plan, see database.configurePool) that traces the list queries, and the owner of
// the patients.
func searchData(t *testing.T) (*pgxpool.Pool, *listTracer, store.Actor) {
	t.Helper()
	ctx := context.Background()
	base := dbtest.Pool(t)
	cfg := base.Config().Copy()
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	tr := &listTracer{}
	cfg.ConnConfig.Tracer = tr
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := store.New(pool, 0)
	owner := newUser(t, st, "owner", store.RoleStaff)
	other := newUser(t, st, "other", store.RoleStaff)
	tricky := []struct{ name, addr, phone string }{
		{"100% Natural", "Percent Lane 5", "+1 555 0100"},
		{"Under_Score", "Snake_Case Road", "(555) 200-3000"},
		{`Back\Slash`, `C:\Temp Street`, "555.400.5000"},
		{"Zoë Ünal", "Straße der Einheit", "0049 30 1234"},
		{"ZOË ÜNAL", "STRASSE 1", "0049-30-1235"},
		{"Łukasz Øster", "Åkersgata 9", "47 22 33 44"},
		{"Nguyễn Văn Anh", "Phố Huế 12", "84-24-3826"},
		{"ab", "a", "9"},
	}
	for i, p := range tricky {
		age, gender := int64(40), "O"
		name, addr, phone := p.name, p.addr, p.phone
		owners := []store.Actor{owner, other}
		if _, err := st.CreatePatient(ctx, store.OwnPatients(owners[i%2]),
			store.PatientFields{Name: &name, Age: &age, Gender: &gender, Address: &addr, PhoneNumber: &phone}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
		 SELECT CASE WHEN g % 3 = 0 THEN ` + fmt.Sprint(other.UserID) + ` ELSE ` + fmt.Sprint(owner.UserID) + ` END,
		        initcap(substr(md5(g::text), 1, 7)) || ' ' || initcap(substr(md5(g::text || 'n'), 1, 9)),
		        g % 90, (ARRAY['M', 'F', 'O'])[1 + g % 3],
		        (g % 700) || ' ' || substr(md5(g::text || 'a'), 1, 10) || ' Street, ' || (10000 + g % 9000),
		        CASE g % 3 WHEN 0 THEN '+44 ' || lpad(g::text, 6, '0') || ' 7'
		                   WHEN 1 THEN '(' || lpad((g % 1000)::text, 3, '0') || ') ' || lpad(g::text, 6, '0')
		                   ELSE '0' || lpad(g::text, 6, '0') || '-12' END
		 FROM generate_series(1, 20000) g`,
		`INSERT INTO doctors (name, specialization, contact_info)
		 SELECT 'Dr ' || substr(md5(g::text), 1, 8), (ARRAY['Cardiology', 'Neurology', 'Pediatrics', 'Oncology_Care', '50% Surgery'])[1 + g % 5]
		        || ' ' || substr(md5(g::text || 's'), 1, 6), substr(md5(g::text || 'c'), 1, 10) || '@clinic.example'
		 FROM generate_series(1, 20000) g`,
		`INSERT INTO doctors (name, specialization, contact_info) VALUES ('Dr Zoë Ünal', 'Straße\Care', 'zoe_unal@example.org')`,
		`INSERT INTO users (username, email, password_hash)
		 SELECT 'u' || substr(md5(g::text), 1, 9), substr(md5(g::text || 'e'), 1, 8) || '@mail.example', 'x'
		 FROM generate_series(1, 20000) g`,
		`INSERT INTO users (username, email, password_hash) VALUES ('zoë_100%', 'back\slash@example.org', 'x')`,
		// What autovacuum does for a table that grew: statistics, and the GIN pending list merged
		// into the index (until then the planner rightly counts that list against the index).
		`VACUUM ANALYZE patients, doctors, users`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	tr.take()
	return pool, tr, owner
}

// explainUses is the list of indexes the plan of q (planned with its arguments, as the store's
// searches are) reads, from EXPLAIN's JSON.
func explainUses(t *testing.T, pool *pgxpool.Pool, q tracedQuery) []string {
	t.Helper()
	var plan []map[string]any
	if err := pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+q.sql, q.args...).Scan(&plan); err != nil {
		t.Fatalf("%v\n%s", err, q.sql)
	}
	var names []string
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if s, ok := n["Index Name"].(string); ok {
			names = append(names, s)
		}
		if kids, ok := n["Plans"].([]any); ok {
			for _, k := range kids {
				walk(k.(map[string]any))
			}
		}
	}
	walk(plan[0]["Plan"].(map[string]any))
	return names
}

// testSearchPlans: every list search (patients in both scopes, with and without a
// phone-like term, doctors, users) is planned on its trigram index for a selective term, page and
// count alike, and on the server's pool (generic plans) a search in a transaction really reads
// the index.
//
// TestSearchIndexes runs it and TestSearchResults on one set of data (filling it takes seconds).
//
// Not parallel: filling and scanning the tables keeps transactions open for seconds, which holds the
// cluster's xmin back, and TestAuditSealsUnderConcurrency needs seals to be made while it writes.
func TestSearchIndexes(t *testing.T) {
	pool, tr, owner := searchData(t)
	t.Run("plans", func(t *testing.T) { testSearchPlans(t, pool, tr, owner) })
	t.Run("results", func(t *testing.T) { testSearchResults(t, pool, owner) })
}

func testSearchPlans(t *testing.T, pool *pgxpool.Pool, tr *listTracer, owner store.Actor) {
	ctx := context.Background()
	st := store.New(pool, 0)
	// The API's page size; the second page of a selective term is empty, so its count runs too.
	pages := []store.ListQuery{{Limit: 100}, {Limit: 100, Offset: 100}}
	for _, tc := range []struct {
		name, index string
		run         func(q store.ListQuery) error
		terms       []string
	}{
		{"patients, own", "patients_search_idx", func(q store.ListQuery) error {
			_, _, err := st.ListPatients(ctx, store.OwnPatients(owner), q)
			return err
		}, []string{"Percent Lane", "Zoë", "snake_case", "555 200 30", "(555) 400-5"}},
		{"patients, clinic", "patients_search_idx", func(q store.ListQuery) error {
			_, _, err := st.ListPatients(ctx, store.ClinicPatients(owner), q)
			return err
		}, []string{"Percent Lane", "ünal", "100%", `c:\temp`, "555 200 30"}},
		{"doctors", "doctors_search_idx", func(q store.ListQuery) error {
			_, _, err := st.ListDoctors(ctx, q)
			return err
		}, []string{"zoë ünal", `straße\care`, "zoe_unal"}},
		{"users", "users_search_idx", func(q store.ListQuery) error {
			_, _, err := st.ListUsers(ctx, q)
			return err
		}, []string{"zoë_100", `back\slash`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, term := range tc.terms {
				for _, q := range pages {
					q.Search = term
					if err := tc.run(q); err != nil {
						t.Fatal(err)
					}
				}
				ran := tr.take()
				if len(ran) == 0 {
					t.Fatalf("%q: no list query was traced", term)
				}
				for _, r := range ran {
					if uses := explainUses(t, pool, r); !slices.Contains(uses, tc.index) {
						t.Errorf("%q: the plan reads %v, not %s:\n%s %v", term, uses, tc.index, r.sql, r.args)
					}
				}
			}
		})
	}

	// The plan the server runs: the pool plans generically, the search asks for a custom plan.
	// Counted by PostgreSQL for the current transaction: scans of the index.
	err := st.InTx(ctx, func(tx *store.Store) error {
		if _, _, err := tx.ListPatients(ctx, store.ClinicPatients(owner), store.ListQuery{Limit: 20, Search: "Percent Lane"}); err != nil {
			return err
		}
		var scans int64
		var mode string
		if err := txQueryRow(ctx, tx, `SELECT pg_stat_get_xact_numscans('patients_search_idx'::regclass), current_setting('plan_cache_mode')`,
			&scans, &mode); err != nil {
			return err
		}
		if scans == 0 {
			t.Errorf("the search in a transaction did not read patients_search_idx")
		}
		if mode != "force_generic_plan" {
			t.Errorf("plan_cache_mode after the search is %q, want the pool's force_generic_plan back", mode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// txQueryRow runs a one-row query on the transaction of tx, a Store handed out by InTx.
func txQueryRow(ctx context.Context, tx *store.Store, sql string, dest ...any) error {
	return store.TxForTest(tx).QueryRow(ctx, sql).Scan(dest...)
}

// testSearchResults: with the indexes, each search finds exactly the rows a
// sequential scan finds for the term anywhere in a searched column, compared case-insensitively
// (strpos on lower(), so the oracle needs no LIKE escaping), plus for a phone-like term its
// digits in the phone number's digits. Terms: LIKE's wildcards and escape character, unicode,
// one and two characters (too short for a trigram), phone numbers typed in another format.
func testSearchResults(t *testing.T, pool *pgxpool.Pool, owner store.Actor) {
	ctx := context.Background()
	st := store.New(pool, 0)
	terms := []string{"%", "_", `\`, `\\`, "%%", "100%", "Under_", `Back\S`, `c:\temp`, "a", "5", "ab", "ü", "Ü",
		"ë", "zoë", "ZOË", "straße", "øster", "Huế", "Văn", "555 200", "(555) 200-3000", "5552003000", "0049 30",
		"+1", "12", "-", ".", "9", "q_z", "Street, 1", "nomatch-anywhere"}
	type list struct {
		name   string
		run    func(term string) ([]int64, int64, error)
		oracle string // $1 term, $2 digits of a phone-like term or '' , $3 owner or 0
		owner  int64
	}
	ids := func(n int, id func(i int) int64) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = id(i)
		}
		return out
	}
	lq := func(term string) store.ListQuery { return store.ListQuery{Limit: 1000, Search: term} }
	patients := func(scope store.PatientScope) func(string) ([]int64, int64, error) {
		return func(term string) ([]int64, int64, error) {
			ps, total, err := st.ListPatients(ctx, scope, lq(term))
			return ids(len(ps), func(i int) int64 { return ps[i].ID }), total, err
		}
	}
	const patientOracle = `FROM patients p WHERE ($3::bigint = 0 OR p.managed_by = $3) AND (strpos(lower(p.name), lower($1)) > 0
		OR strpos(lower(p.phone_number), lower($1)) > 0 OR strpos(lower(p.address), lower($1)) > 0
		OR ($2 <> '' AND strpos(regexp_replace(p.phone_number, '[^0-9]', '', 'g'), $2) > 0))`
	for _, l := range []list{
		{"patients, own", patients(store.OwnPatients(owner)), patientOracle, owner.UserID},
		{"patients, clinic", patients(store.ClinicPatients(owner)), patientOracle, 0},
		{"doctors", func(term string) ([]int64, int64, error) {
			ds, total, err := st.ListDoctors(ctx, lq(term))
			return ids(len(ds), func(i int) int64 { return ds[i].ID }), total, err
		}, `FROM doctors p WHERE $2::text IS NOT NULL AND $3::bigint IS NOT NULL AND (strpos(lower(p.name), lower($1)) > 0
			OR strpos(lower(p.specialization), lower($1)) > 0 OR strpos(lower(p.contact_info), lower($1)) > 0)`, 0},
		{"users", func(term string) ([]int64, int64, error) {
			us, total, err := st.ListUsers(ctx, lq(term))
			return ids(len(us), func(i int) int64 { return us[i].ID }), total, err
		}, `FROM users p WHERE $2::text IS NOT NULL AND $3::bigint IS NOT NULL AND (strpos(lower(p.username), lower($1)) > 0
			OR strpos(lower(p.email), lower($1)) > 0)`, 0},
	} {
		t.Run(l.name, func(t *testing.T) {
			for _, term := range terms {
				got, total, err := l.run(term)
				if err != nil {
					t.Fatalf("%q: %v", term, err)
				}
				var want []int64
				var wantTotal int64
				err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					// A plain scan, whatever the planner would prefer.
					if _, err := tx.Exec(ctx, "SET LOCAL enable_bitmapscan = off"); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, "SET LOCAL enable_indexscan = off"); err != nil {
						return err
					}
					args := []any{term, store.PhoneDigits(term), l.owner}
					if err := tx.QueryRow(ctx, "SELECT count(*) "+l.oracle, args...).Scan(&wantTotal); err != nil {
						return err
					}
					rows, _ := tx.Query(ctx, "SELECT p.id "+l.oracle+" ORDER BY p.id LIMIT 1000", args...)
					want, err = pgx.CollectRows(rows, pgx.RowTo[int64])
					return err
				})
				if err != nil {
					t.Fatalf("%q: oracle: %v", term, err)
				}
				if total != wantTotal || !slices.Equal(got, want) {
					t.Errorf("%q: the search found %d rows (first page %v), a plain scan %d (%v)",
						term, total, head(got), wantTotal, head(want))
				}
			}
		})
	}
}

func head(ids []int64) []int64 { return ids[:min(len(ids), 8)] }
