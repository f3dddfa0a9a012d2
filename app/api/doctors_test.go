package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"healthcare/app/api/apitest"
)

// doctorPattern is the JSON pattern of one doctor.
func doctorPattern(id, name, spec, contact string) string {
	return fmt.Sprintf(`{"id": %s, "name": %q, "specialization": %q, "contact_info": %q, "created_at": "*ts", "updated_at": "*ts"}`,
		resID(id), name, spec, contact)
}

// TestDoctors replays the transcript's Doctors section, with API.md's differences (trailing slash).
func TestDoctors(t *testing.T) {
	t.Parallel()
	f := newResFixture(t)
	var created map[string]any
	f.run(t, []resScenario{
		{Name: "list (empty)", Method: "GET", URL: "/api/doctors/", As: "alice", Status: 200, JSON: `[]`,
			Check: func(t *testing.T, r *apitest.Response, _ resVars) {
				if got := r.Header.Get("X-Total-Count"); got != "0" {
					t.Errorf("X-Total-Count %q, want 0", got)
				}
			}},
		{Name: "create with empty body", Method: "POST", URL: "/api/doctors/", As: "alice", Body: `{}`, Status: 400,
			JSON: `{"name": ["This field is required."], "specialization": ["This field is required."], "contact_info": ["This field is required."]}`},
		{Name: "create with blank strings", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body:   `{"name": "", "specialization": "", "contact_info": ""}`,
			Status: 400,
			JSON:   `{"name": ["This field may not be blank."], "specialization": ["This field may not be blank."], "contact_info": ["This field may not be blank."]}`},
		{Name: "create whitespace-only strings are blank", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body:   `{"name": "  ", "specialization": "\t", "contact_info": "ok@x"}`,
			Status: 400,
			JSON:   `{"name": ["This field may not be blank."], "specialization": ["This field may not be blank."]}`},
		{Name: "create", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body:   `{"name": "Alice Wonderland", "specialization": "Cardiology", "contact_info": "alice@wonder.land"}`,
			Status: 201, Save: "d1",
			JSON: doctorPattern("*int", "Alice Wonderland", "Cardiology", "alice@wonder.land"),
			Check: func(t *testing.T, r *apitest.Response, _ resVars) {
				r.Decode(t, &created)
			}},
		{Name: "create (client-supplied id/created_at ignored)", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body:   `{"id": 77, "name": "Jay Taimus", "specialization": "Dermatology", "contact_info": "jay@wonder.land", "created_at": "2000-01-01T00:00:00Z", "updated_at": "2000-01-01T00:00:00Z"}`,
			Status: 201, Save: "d2",
			JSON:   doctorPattern("*int", "Jay Taimus", "Dermatology", "jay@wonder.land"),
			Absent: []string{`"id":77`, "2000-01-01"}},
		{Name: "duplicate contact_info", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body:   `{"name": "X", "specialization": "Y", "contact_info": "alice@wonder.land"}`,
			Status: 400, JSON: `{"contact_info": ["doctor with this contact info already exists."]}`},
		{Name: "duplicate contact_info after trimming", Method: "POST", URL: "/api/doctors/", As: "bob",
			Body:   `{"name": "X", "specialization": "Y", "contact_info": "  alice@wonder.land "}`,
			Status: 400, JSON: `{"contact_info": ["doctor with this contact info already exists."]}`},
		{Name: "duplicate contact_info reported with the other fields' errors", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body:   `{"name": "", "specialization": "Y", "contact_info": "alice@wonder.land"}`,
			Status: 400, JSON: `{"name": ["This field may not be blank."], "contact_info": ["doctor with this contact info already exists."]}`},
		{Name: "name 256 chars", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body:   `{"name": "` + strings.Repeat("n", 256) + `", "specialization": "Y", "contact_info": "long@x"}`,
			Status: 400, JSON: `{"name": ["Ensure this field has no more than 255 characters."]}`},
		{Name: "255 multi-byte characters fit", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body:   `{"name": "` + strings.Repeat("é", 255) + `", "specialization": "Y", "contact_info": "long@x"}`,
			Status: 201, Save: "dlong"},
		{Name: "wrong types", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body:   `{"name": 123, "specialization": ["a"], "contact_info": null}`,
			Status: 400, JSON: `{"specialization": ["Not a valid string."], "contact_info": ["This field may not be null."]}`},
		{Name: "delete the long one", Method: "DELETE", URL: "/api/doctors/{{dlong}}/", As: "alice", Status: 204},
		{Name: "list", Method: "GET", URL: "/api/doctors/", As: "alice", Status: 200,
			JSON: `[` + doctorPattern("{{d1}}", "Alice Wonderland", "Cardiology", "alice@wonder.land") + `, ` +
				doctorPattern("{{d2}}", "Jay Taimus", "Dermatology", "jay@wonder.land") + `]`},
		{Name: "retrieve", Method: "GET", URL: "/api/doctors/{{d1}}/", As: "alice", Status: 200,
			JSON: doctorPattern("{{d1}}", "Alice Wonderland", "Cardiology", "alice@wonder.land"),
			Check: func(t *testing.T, r *apitest.Response, _ resVars) {
				var got map[string]any
				r.Decode(t, &got)
				if got["created_at"] != created["created_at"] || got["updated_at"] != created["updated_at"] {
					t.Errorf("timestamps changed between create %v and retrieve %v", created, got)
				}
			}},
		{Name: "retrieve missing", Method: "GET", URL: "/api/doctors/9999/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "retrieve non-numeric id", Method: "GET", URL: "/api/doctors/abc/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "PUT full", Method: "PUT", URL: "/api/doctors/{{d1}}/", As: "alice",
			Body:   `{"name": "Alice W.", "specialization": "Neurology", "contact_info": "alice@wonder.land"}`,
			Status: 200, JSON: doctorPattern("{{d1}}", "Alice W.", "Neurology", "alice@wonder.land"),
			Check: func(t *testing.T, r *apitest.Response, _ resVars) {
				var got map[string]any
				r.Decode(t, &got)
				if got["created_at"] != created["created_at"] {
					t.Errorf("PUT changed created_at: %v → %v", created["created_at"], got["created_at"])
				}
				if got["updated_at"] == created["updated_at"] {
					t.Errorf("PUT left updated_at at %v", got["updated_at"])
				}
				created = got
			}},
		{Name: "PUT partial body -> 400", Method: "PUT", URL: "/api/doctors/{{d1}}/", As: "alice", Body: `{"name": "Only name"}`,
			Status: 400, JSON: `{"specialization": ["This field is required."], "contact_info": ["This field is required."]}`},
		{Name: "PATCH", Method: "PATCH", URL: "/api/doctors/{{d1}}/", As: "alice", Body: `{"specialization": "Cardiology"}`,
			Status: 200, JSON: doctorPattern("{{d1}}", "Alice W.", "Cardiology", "alice@wonder.land"),
			Check: func(t *testing.T, r *apitest.Response, _ resVars) {
				var got map[string]any
				r.Decode(t, &got)
				if got["updated_at"] == created["updated_at"] {
					t.Errorf("PATCH left updated_at at %v", got["updated_at"])
				}
			}},
		{Name: "PATCH ignores read-only fields", Method: "PATCH", URL: "/api/doctors/{{d1}}/", As: "alice",
			Body:   `{"id": 4242, "created_at": "2000-01-01T00:00:00Z"}`,
			Status: 200, JSON: doctorPattern("{{d1}}", "Alice W.", "Cardiology", "alice@wonder.land"), Absent: []string{"4242", "2000-01-01"}},
		{Name: "PATCH with a blank field", Method: "PATCH", URL: "/api/doctors/{{d1}}/", As: "alice", Body: `{"name": " "}`,
			Status: 400, JSON: `{"name": ["This field may not be blank."]}`},
		{Name: "PUT contact_info colliding with another doctor", Method: "PUT", URL: "/api/doctors/{{d2}}/", As: "alice",
			Body:   `{"name": "Jay", "specialization": "Derm", "contact_info": "alice@wonder.land"}`,
			Status: 400, JSON: `{"contact_info": ["doctor with this contact info already exists."]}`},
		{Name: "PATCH contact_info colliding, with another error", Method: "PATCH", URL: "/api/doctors/{{d2}}/", As: "alice",
			Body:   `{"specialization": "", "contact_info": "alice@wonder.land"}`,
			Status: 400, JSON: `{"specialization": ["This field may not be blank."], "contact_info": ["doctor with this contact info already exists."]}`},
		{Name: "PUT keeping its own contact_info is no collision", Method: "PUT", URL: "/api/doctors/{{d2}}/", As: "alice",
			Body:   `{"name": "Jay Taimus", "specialization": "Dermatology", "contact_info": "jay@wonder.land"}`,
			Status: 200, JSON: doctorPattern("{{d2}}", "Jay Taimus", "Dermatology", "jay@wonder.land")},
		{Name: "bob (another user) edits alice's doctor (allowed)", Method: "PATCH", URL: "/api/doctors/{{d2}}/", As: "bob",
			Body: `{"name": "Edited by bob"}`, Status: 200, JSON: doctorPattern("{{d2}}", "Edited by bob", "Dermatology", "jay@wonder.land")},
		{Name: "create a throwaway doctor", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body: `{"name": "Temp", "specialization": "Temp", "contact_info": "temp@x"}`, Status: 201, Save: "d3",
			JSON: doctorPattern("*int", "Temp", "Temp", "temp@x")},
		{Name: "bob deletes it (allowed)", Method: "DELETE", URL: "/api/doctors/{{d3}}/", As: "bob", Status: 204},
		{Name: "retrieve deleted", Method: "GET", URL: "/api/doctors/{{d3}}/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "delete again", Method: "DELETE", URL: "/api/doctors/{{d3}}/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "PUT deleted", Method: "PUT", URL: "/api/doctors/{{d3}}/", As: "alice",
			Body: `{"name": "a", "specialization": "b", "contact_info": "c"}`, Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "PATCH deleted with an invalid body is still 404", Method: "PATCH", URL: "/api/doctors/{{d3}}/", As: "alice",
			Body: `{"name": ""}`, Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "POST without trailing slash (201, not a 500)", Method: "POST", URL: "/api/doctors", As: "alice",
			Body: `{"name": "a", "specialization": "b", "contact_info": "c"}`, Status: 201, JSON: doctorPattern("*int", "a", "b", "c")},
		{Name: "GET without trailing slash (200, not a redirect)", Method: "GET", URL: "/api/doctors", As: "alice", Status: 200,
			Contains: []string{`"contact_info":"c"`}},
		{Name: "wrong method on the list", Method: "DELETE", URL: "/api/doctors/", As: "alice", Status: 405,
			JSON: `{"detail": "Method \"DELETE\" not allowed."}`},
		{Name: "wrong method on an item", Method: "POST", URL: "/api/doctors/{{d1}}/", As: "alice", Body: `{}`, Status: 405,
			JSON: `{"detail": "Method \"POST\" not allowed."}`},
		{Name: "no token", Method: "GET", URL: "/api/doctors/", Status: 401,
			JSON: `{"detail": "Authentication credentials were not provided."}`},
		{Name: "no token on create", Method: "POST", URL: "/api/doctors/", Body: `{"name": "a", "specialization": "b", "contact_info": "z"}`,
			Status: 401, JSON: `{"detail": "Authentication credentials were not provided."}`},
		{Name: "no token on delete", Method: "DELETE", URL: "/api/doctors/{{d1}}/", Status: 401,
			JSON: `{"detail": "Authentication credentials were not provided."}`},
	})
}

// TestDoctorsList covers pagination, search, ordering and the specialization filter.
func TestDoctorsList(t *testing.T) {
	t.Parallel()
	f := newResFixture(t, "alice")
	specs := []string{"Cardiology", "Dermatology", "Neurology"}
	for i := 1; i <= 25; i++ {
		f.create(t, "/api/doctors/", "alice", fmt.Sprintf(`{"name": "Doc %02d", "specialization": %q, "contact_info": "doc%02d@x"}`,
			i, specs[i%3], i))
	}
	f.create(t, "/api/doctors/", "alice", `{"name": "100% Sure_Thing", "specialization": "cardiology", "contact_info": "pct@x"}`)
	f.create(t, "/api/doctors/", "alice", `{"name": "Back\\slash", "specialization": "Odd", "contact_info": "bs@x"}`)

	names := func(r *apitest.Response) []string {
		var ds []struct{ Name string }
		if err := json.Unmarshal(r.Body, &ds); err != nil {
			t.Fatalf("decode %s: %v", r.Body, err)
		}
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = d.Name
		}
		return out
	}
	expect := func(total string, want ...string) func(*testing.T, *apitest.Response, resVars) {
		return func(t *testing.T, r *apitest.Response, _ resVars) {
			if got := r.Header.Get("X-Total-Count"); got != total {
				t.Errorf("X-Total-Count %q, want %q", got, total)
			}
			if want == nil {
				return
			}
			if got := names(r); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("names %q, want %q", got, want)
			}
		}
	}
	link := func(want ...string) func(*testing.T, *apitest.Response, resVars) {
		return func(t *testing.T, r *apitest.Response, _ resVars) {
			got := r.Header.Get("Link")
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("Link %q lacks %q", got, w)
				}
			}
			if len(want) == 0 && got != "" {
				t.Errorf("Link %q, want none", got)
			}
		}
	}
	f.run(t, []resScenario{
		{Name: "default page has everything", Method: "GET", URL: "/api/doctors/", As: "alice", Status: 200,
			Check: func(t *testing.T, r *apitest.Response, v resVars) {
				expect("27")(t, r, v)
				if n := len(names(r)); n != 27 {
					t.Errorf("%d doctors, want 27", n)
				}
				link()(t, r, v)
			}},
		{Name: "first page", Method: "GET", URL: "/api/doctors/?limit=2", As: "alice", Status: 200,
			Check: func(t *testing.T, r *apitest.Response, v resVars) {
				expect("27", "Doc 01", "Doc 02")(t, r, v)
				link(`rel="next"`, "limit=2", "offset=2")(t, r, v)
				if strings.Contains(r.Header.Get("Link"), `rel="prev"`) {
					t.Errorf("first page has a prev link: %s", r.Header.Get("Link"))
				}
			}},
		{Name: "middle page", Method: "GET", URL: "/api/doctors/?limit=10&offset=10", As: "alice", Status: 200,
			Check: func(t *testing.T, r *apitest.Response, v resVars) {
				expect("27", "Doc 11", "Doc 12", "Doc 13", "Doc 14", "Doc 15", "Doc 16", "Doc 17", "Doc 18", "Doc 19", "Doc 20")(t, r, v)
				link(`offset=20>; rel="next"`, `offset=0>; rel="prev"`)(t, r, v)
			}},
		{Name: "last page", Method: "GET", URL: "/api/doctors/?limit=10&offset=20", As: "alice", Status: 200,
			Check: func(t *testing.T, r *apitest.Response, v resVars) {
				expect("27")(t, r, v)
				if n := len(names(r)); n != 7 {
					t.Errorf("%d doctors, want 7", n)
				}
				if strings.Contains(r.Header.Get("Link"), `rel="next"`) {
					t.Errorf("last page has a next link")
				}
			}},
		{Name: "past the end keeps the total", Method: "GET", URL: "/api/doctors/?offset=500", As: "alice", Status: 200, JSON: `[]`,
			Check: expect("27")},
		{Name: "max limit", Method: "GET", URL: "/api/doctors/?limit=1000", As: "alice", Status: 200, Check: expect("27")},
		// Issue 16, item 6: an offset near the integer limit overflowed offset+limit into a negative
		// "next" offset; offsets are bounded and the Link arithmetic cannot overflow.
		{Name: "offset at the integer limit", Method: "GET", URL: "/api/doctors/?limit=1000&offset=9223372036854775807", As: "alice", Status: 400,
			JSON: `{"offset": ["Ensure this value is less than or equal to 1000000000."]}`},
		{Name: "offset above the bound", Method: "GET", URL: "/api/doctors/?offset=1000000001", As: "alice", Status: 400,
			JSON: `{"offset": ["Ensure this value is less than or equal to 1000000000."]}`},
		{Name: "largest offset", Method: "GET", URL: "/api/doctors/?limit=1000&offset=1000000000", As: "alice", Status: 200, JSON: `[]`,
			Check: func(t *testing.T, r *apitest.Response, v resVars) {
				expect("27")(t, r, v)
				link(`offset=999999000>; rel="prev"`)(t, r, v)
				if l := r.Header.Get("Link"); strings.Contains(l, `rel="next"`) || strings.Contains(l, "offset=-") {
					t.Errorf("Link %q", l)
				}
			}},
		{Name: "limit 0", Method: "GET", URL: "/api/doctors/?limit=0", As: "alice", Status: 400,
			JSON: `{"limit": ["Ensure this value is greater than or equal to 1."]}`},
		{Name: "negative limit and offset", Method: "GET", URL: "/api/doctors/?limit=-1&offset=-5", As: "alice", Status: 400,
			JSON: `{"limit": ["Ensure this value is greater than or equal to 1."], "offset": ["Ensure this value is greater than or equal to 0."]}`},
		{Name: "limit too big", Method: "GET", URL: "/api/doctors/?limit=1001", As: "alice", Status: 400,
			JSON: `{"limit": ["Ensure this value is less than or equal to 1000."]}`},
		{Name: "non-numeric limit", Method: "GET", URL: "/api/doctors/?limit=abc&offset=99999999999999999999999", As: "alice", Status: 400,
			JSON: `{"limit": ["A valid integer is required."], "offset": ["A valid integer is required."]}`},
		{Name: "unknown ordering", Method: "GET", URL: "/api/doctors/?ordering=password", As: "alice", Status: 400, Contains: []string{`"ordering"`}},
		{Name: "SQL in ordering", Method: "GET", URL: "/api/doctors/?ordering=name;DROP%20TABLE%20doctors", As: "alice", Status: 400, Contains: []string{`"ordering"`}},
		{Name: "order by name descending", Method: "GET", URL: "/api/doctors/?ordering=-name&limit=3", As: "alice", Status: 200,
			Check: expect("27", "Doc 25", "Doc 24", "Doc 23")},
		{Name: "order by specialization, ties by id", Method: "GET", URL: "/api/doctors/?ordering=specialization&limit=2&search=doc", As: "alice", Status: 200,
			Check: expect("25", "Doc 03", "Doc 06")},
		{Name: "order by -id", Method: "GET", URL: "/api/doctors/?ordering=-id&limit=1", As: "alice", Status: 200, Check: expect("27", `Back\slash`)},
		{Name: "order by created_at", Method: "GET", URL: "/api/doctors/?ordering=created_at&limit=1", As: "alice", Status: 200, Check: expect("27", "Doc 01")},
		{Name: "order by -updated_at", Method: "GET", URL: "/api/doctors/?ordering=-updated_at&limit=1", As: "alice", Status: 200, Check: expect("27", `Back\slash`)},
		{Name: "search is case-insensitive", Method: "GET", URL: "/api/doctors/?search=DOC%202", As: "alice", Status: 200,
			Check: expect("6", "Doc 20", "Doc 21", "Doc 22", "Doc 23", "Doc 24", "Doc 25")},
		{Name: "search covers specialization", Method: "GET", URL: "/api/doctors/?search=neuro&limit=1", As: "alice", Status: 200, Check: expect("8", "Doc 02")},
		{Name: "search covers contact_info", Method: "GET", URL: "/api/doctors/?search=doc07@", As: "alice", Status: 200, Check: expect("1", "Doc 07")},
		{Name: "search % is literal", Method: "GET", URL: "/api/doctors/?search=%25", As: "alice", Status: 200, Check: expect("1", "100% Sure_Thing")},
		{Name: "search _ is literal", Method: "GET", URL: "/api/doctors/?search=_", As: "alice", Status: 200, Check: expect("1", "100% Sure_Thing")},
		{Name: `search \ is literal`, Method: "GET", URL: "/api/doctors/?search=%5C", As: "alice", Status: 200, Check: expect("1", `Back\slash`)},
		{Name: "search without match", Method: "GET", URL: "/api/doctors/?search=zzz", As: "alice", Status: 200, JSON: `[]`, Check: expect("0")},
		{Name: "search with NUL", Method: "GET", URL: "/api/doctors/?search=a%00b", As: "alice", Status: 400, Contains: []string{`"search"`}},
		{Name: "search with invalid UTF-8", Method: "GET", URL: "/api/doctors/?search=%ff%fe", As: "alice", Status: 400, Contains: []string{`"search"`}},
		{Name: "search too long", Method: "GET", URL: "/api/doctors/?search=" + strings.Repeat("a", 256), As: "alice", Status: 400, Contains: []string{`"search"`}},
		{Name: "specialization filter is exact and case-insensitive", Method: "GET", URL: "/api/doctors/?specialization=CARDIOLOGY", As: "alice", Status: 200,
			Check: expect("9")},
		{Name: "specialization filter is not a substring match", Method: "GET", URL: "/api/doctors/?specialization=cardio", As: "alice", Status: 200,
			JSON: `[]`, Check: expect("0")},
		{Name: "specialization filter with search and paging", Method: "GET", URL: "/api/doctors/?specialization=cardiology&search=sure&limit=5", As: "alice", Status: 200,
			Check: expect("1", "100% Sure_Thing")},
		{Name: "specialization filter with NUL", Method: "GET", URL: "/api/doctors/?specialization=%00", As: "alice", Status: 400,
			Contains: []string{`"specialization"`}},
		{Name: "specialization filter with invalid UTF-8 and a bad limit: both reported", Method: "GET", URL: "/api/doctors/?limit=x&specialization=%c3%28", As: "alice", Status: 400,
			JSON: `{"limit": ["A valid integer is required."], "specialization": ["Null characters are not allowed."]}`},
	})
}

// TestDoctorsBadInput sends malformed bodies and ids: always a JSON 4xx, never a 5xx.
func TestDoctorsBadInput(t *testing.T) {
	t.Parallel()
	f := newResFixture(t, "alice")
	f.vars["d1"] = fmt.Sprint(f.create(t, "/api/doctors/", "alice", `{"name": "A", "specialization": "B", "contact_info": "C"}`))
	var scenarios []resScenario
	for _, m := range []string{"POST /api/doctors/", "PUT /api/doctors/{{d1}}/", "PATCH /api/doctors/{{d1}}/"} {
		method, url, _ := strings.Cut(m, " ")
		scenarios = append(scenarios,
			resScenario{Name: m + " malformed JSON", Method: method, URL: url, As: "alice", Body: `{"name": "a",`, Status: 400,
				Contains: []string{`"detail":"JSON parse error - `}},
			resScenario{Name: m + " trailing garbage", Method: method, URL: url, As: "alice", Body: `{} {}`, Status: 400,
				Contains: []string{`"detail":"JSON parse error - `}},
			resScenario{Name: m + " array body", Method: method, URL: url, As: "alice", Body: `[{"name": "a"}]`, Status: 400,
				JSON: `{"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}`},
			resScenario{Name: m + " string body", Method: method, URL: url, As: "alice", Body: `"name"`, Status: 400,
				JSON: `{"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}`},
			resScenario{Name: m + " null body", Method: method, URL: url, As: "alice", Body: `null`, Status: 400,
				JSON: `{"non_field_errors": ["Invalid data. Expected a dictionary, but got NoneType."]}`},
			resScenario{Name: m + " number body", Method: method, URL: url, As: "alice", Body: `42`, Status: 400,
				JSON: `{"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]}`},
			resScenario{Name: m + " wrong content type", Method: method, URL: url, As: "alice", Body: `name=a`,
				Header: map[string]string{"Content-Type": "text/plain"}, Status: 415, Contains: []string{`"detail"`}},
			resScenario{Name: m + " invalid UTF-8", Method: method, URL: url, As: "alice", Body: "{\"name\": \"\xff\"}", Status: 400,
				Contains: []string{`"detail":"JSON parse error`}},
			resScenario{Name: m + " NUL characters", Method: method, URL: url, As: "alice",
				Body: `{"name": "a\u0000b", "specialization": "\u0000", "contact_info": "x\u0000"}`, Status: 400,
				JSON: `{"name": ["Null characters are not allowed."], "specialization": ["Null characters are not allowed."], "contact_info": ["Null characters are not allowed."]}`},
		)
	}
	for _, id := range []string{"0", "-1", "abc", "1.5", "1e3", "99999999999999999999", "9223372036854775808", "9223372036854775807", "%20", "00"} {
		for _, method := range []string{"GET", "PUT", "PATCH", "DELETE"} {
			s := resScenario{Name: method + " id " + id, Method: method, URL: "/api/doctors/" + id + "/", As: "alice", Status: 404,
				JSON: `{"detail": "Not found."}`}
			if method == "PUT" || method == "PATCH" {
				s.Body = `{"name": "a", "specialization": "b", "contact_info": "zz"}`
			}
			scenarios = append(scenarios, s)
		}
	}
	scenarios = append(scenarios,
		resScenario{Name: "unknown sub-path", Method: "GET", URL: "/api/doctors/{{d1}}/extra/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		resScenario{Name: "empty body on POST is an empty object", Method: "POST", URL: "/api/doctors/", As: "alice", Status: 400,
			JSON: `{"name": ["This field is required."], "specialization": ["This field is required."], "contact_info": ["This field is required."]}`},
		resScenario{Name: "content type with charset is fine", Method: "POST", URL: "/api/doctors/", As: "alice",
			Header: map[string]string{"Content-Type": "application/json; charset=utf-8"},
			Body:   `{"name": "N", "specialization": "S", "contact_info": "charset@x"}`, Status: 201},
		resScenario{Name: "numbers are accepted as strings (as DRF does)", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body: `{"name": 12, "specialization": 3.5, "contact_info": 555}`, Status: 201, JSON: doctorPattern("*int", "12", "3.5", "555")},
		resScenario{Name: "booleans and objects are not strings", Method: "POST", URL: "/api/doctors/", As: "alice",
			Body: `{"name": true, "specialization": {"a": 1}, "contact_info": "q"}`, Status: 400,
			JSON: `{"name": ["Not a valid string."], "specialization": ["Not a valid string."]}`},
	)
	f.run(t, scenarios)

	// Bodies over the configured cap (1 MiB) are a JSON 413 on every route that takes a body.
	for _, m := range []string{"POST /api/doctors/", "PUT /api/doctors/{{d1}}/", "PATCH /api/doctors/{{d1}}", "POST /api/patients/", "POST /api/mappings"} {
		method, url, _ := strings.Cut(m, " ")
		r := f.resOversized(t, method, f.vars.expand(url), "alice", f.env.Config.Server.BodyLimit+1)
		resCheckResponse(t, method, r)
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s with %d bytes: %d %s", m, f.env.Config.Server.BodyLimit+1, r.Status, r.Body)
		}
	}
}

// TestResourceRoutesSlashAndMethods checks that every route answers with and without the
// trailing slash for every method, and that wrong methods are a JSON 405.
func TestResourceRoutesSlashAndMethods(t *testing.T) {
	t.Parallel()
	f := newResFixture(t, "alice")
	doctor := f.create(t, "/api/doctors/", "alice", `{"name": "A", "specialization": "B", "contact_info": "C"}`)
	doctor2 := f.create(t, "/api/doctors/", "alice", `{"name": "A2", "specialization": "B", "contact_info": "C2"}`)
	patient := f.create(t, "/api/patients/", "alice", `{"name": "P", "age": 1, "gender": "F", "address": "a", "phone_number": "1"}`)
	mapping := f.create(t, "/api/mappings/", "alice", fmt.Sprintf(`{"patient": %d, "doctor": %d}`, patient, doctor))
	f.vars["d"], f.vars["d2"], f.vars["p"], f.vars["m"] = fmt.Sprint(doctor), fmt.Sprint(doctor2), fmt.Sprint(patient), fmt.Sprint(mapping)

	var scenarios []resScenario
	for _, slash := range []string{"/", ""} {
		s := func(name, method, url, body string, status int) resScenario {
			return resScenario{Name: fmt.Sprintf("%s %s%s %s", method, url, slash, name), Method: method, URL: url + slash,
				As: "alice", Body: body, Status: status}
		}
		n := len(scenarios)
		scenarios = append(scenarios,
			s("", "GET", "/api/doctors", "", 200),
			s("", "HEAD", "/api/doctors", "", 200),
			s("", "POST", "/api/doctors", `{"name": "N", "specialization": "S", "contact_info": "slash`+slash+`"}`, 201),
			s("", "GET", "/api/doctors/{{d}}", "", 200),
			s("", "PUT", "/api/doctors/{{d}}", `{"name": "A", "specialization": "B", "contact_info": "C"}`, 200),
			s("", "PATCH", "/api/doctors/{{d}}", `{"name": "A"}`, 200),
			s("", "GET", "/api/patients", "", 200),
			s("", "POST", "/api/patients", `{"name": "Q", "age": 2, "gender": "M", "address": "a", "phone_number": "555 slash`+slash+`"}`, 201),
			s("", "GET", "/api/patients/{{p}}", "", 200),
			s("", "PUT", "/api/patients/{{p}}", `{"name": "P", "age": 1, "gender": "F", "address": "a", "phone_number": "1"}`, 200),
			s("", "PATCH", "/api/patients/{{p}}", `{"age": 3}`, 200),
			s("", "GET", "/api/patients/{{p}}/doctors", "", 200),
			s("", "GET", "/api/mappings", "", 200),
			s("", "GET", "/api/mappings/{{m}}", "", 200),
			s("", "PUT", "/api/mappings/{{m}}", `{"patient": {{p}}, "doctor": {{d}}}`, 200),
			s("", "PATCH", "/api/mappings/{{m}}", `{"doctor": {{d}}}`, 200),
			// wrong methods
			s("not allowed", "DELETE", "/api/doctors", "", 405),
			s("not allowed", "PUT", "/api/doctors", `{}`, 405),
			s("not allowed", "POST", "/api/doctors/{{d}}", `{}`, 405),
			s("not allowed", "PATCH", "/api/patients", `{}`, 405),
			s("not allowed", "POST", "/api/patients/{{p}}", `{}`, 405),
			s("not allowed", "POST", "/api/patients/{{p}}/doctors", `{}`, 405),
			s("not allowed", "DELETE", "/api/patients/{{p}}/doctors", "", 405),
			s("not allowed", "DELETE", "/api/mappings", "", 405),
			s("not allowed", "POST", "/api/mappings/{{m}}", `{}`, 405),
		)
		for i := n; i < len(scenarios); i++ {
			if scenarios[i].Status == 405 {
				scenarios[i].JSON = fmt.Sprintf(`{"detail": "Method \"%s\" not allowed."}`, scenarios[i].Method)
			}
		}
	}
	// Deletes last, once each way.
	scenarios = append(scenarios,
		resScenario{Name: "DELETE mapping with slash", Method: "DELETE", URL: "/api/mappings/{{m}}/", As: "alice", Status: 204},
		resScenario{Name: "POST mapping without slash", Method: "POST", URL: "/api/mappings", As: "alice",
			Body: `{"patient": {{p}}, "doctor": {{d}}}`, Status: 201, Save: "m2"},
		resScenario{Name: "DELETE mapping without slash", Method: "DELETE", URL: "/api/mappings/{{m2}}", As: "alice", Status: 204},
		resScenario{Name: "DELETE patient without slash", Method: "DELETE", URL: "/api/patients/{{p}}", As: "alice", Status: 204},
		resScenario{Name: "DELETE doctor without slash", Method: "DELETE", URL: "/api/doctors/{{d}}", As: "alice", Status: 204},
		resScenario{Name: "DELETE doctor with slash", Method: "DELETE", URL: "/api/doctors/{{d2}}/", As: "alice", Status: 204},
	)
	f.run(t, scenarios)
}

// TestDoctorsRaceOnContactInfo: parallel identical creations end as one 201 and 400s, never a 500.
func TestDoctorsRaceOnContactInfo(t *testing.T) {
	t.Parallel()
	f := newResFixture(t, "alice")
	counts := f.resParallel(t, 12, http.MethodPost, "/api/doctors/", "alice",
		`{"name": "Race", "specialization": "Cardiology", "contact_info": "race@x"}`)
	if counts[201] != 1 || counts[400] != 11 {
		t.Fatalf("statuses %v, want one 201 and eleven 400", counts)
	}
}
