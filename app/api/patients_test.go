package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"healthcare/app/api/apitest"
)

// patientPattern is the JSON pattern of one patient.
func patientPattern(id, owner, name string, age int64, gender, address, phone string) string {
	return fmt.Sprintf(`{"id": %s, "managed_by": %q, "name": %q, "age": %d, "gender": %q, "address": %q, "phone_number": %q, "created_at": "*ts", "updated_at": "*ts"}`,
		resID(id), owner, name, age, gender, address, phone)
}

// TestPatients replays the transcript's Patients and "Patients across users" sections, with
// API.md's differences: phone numbers are unique per owner, and nobody else's patient is visible.
func TestPatients(t *testing.T) {
	t.Parallel()
	f := newResFixture(t)
	var john map[string]any
	f.run(t, []resScenario{
		{Name: "list (empty)", Method: "GET", URL: "/api/patients/", As: "alice", Status: 200, JSON: `[]`},
		{Name: "create with empty body", Method: "POST", URL: "/api/patients/", As: "alice", Body: `{}`, Status: 400,
			JSON: `{"name": ["This field is required."], "age": ["This field is required."], "gender": ["This field is required."], "address": ["This field is required."], "phone_number": ["This field is required."]}`},
		{Name: "create", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "John Doe", "age": 35, "gender": "M", "address": "123 Main St", "phone_number": "555-0101"}`,
			Status: 201, Save: "p1", JSON: patientPattern("*int", "alice", "John Doe", 35, "M", "123 Main St", "555-0101"),
			Check: func(t *testing.T, r *apitest.Response, _ resVars) { r.Decode(t, &john) }},
		{Name: "create second (managed_by in body ignored)", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "Jane Roe", "age": 0, "gender": "F", "address": "1 Elm", "phone_number": "555-0102", "managed_by": "bob", "id": 1, "created_at": "2000-01-01T00:00:00Z"}`,
			Status: 201, Save: "p2", JSON: patientPattern("*int", "alice", "Jane Roe", 0, "F", "1 Elm", "555-0102"), Absent: []string{"2000-01-01"}},
		{Name: "invalid gender / negative age / long phone", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "X", "age": -1, "gender": "X", "address": "a", "phone_number": "1234567890123456"}`,
			Status: 400, JSON: `{"age": ["Ensure this value is greater than or equal to 0."], "gender": ["\"X\" is not a valid choice."], "phone_number": ["Ensure this field has no more than 15 characters."]}`},
		{Name: "age not an integer, blank address", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "X", "age": "abc", "gender": "M", "address": "", "phone_number": "1"}`,
			Status: 400, JSON: `{"age": ["A valid integer is required."], "address": ["This field may not be blank."]}`},
		{Name: "age 2147483648 (above Postgres int range)", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "X", "age": 2147483648, "gender": "M", "address": "a", "phone_number": "2"}`,
			Status: 400, JSON: `{"age": ["Ensure this value is less than or equal to 150."]}`},
		{Name: "age beyond int64", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "X", "age": 123456789012345678901234567890, "gender": "M", "address": "a", "phone_number": "2"}`,
			Status: 400, JSON: `{"age": ["Ensure this value is less than or equal to 150."]}`},
		{Name: "age with a huge exponent", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "X", "age": 1e999999999, "gender": "M", "address": "a", "phone_number": "2"}`,
			Status: 400, Contains: []string{`"age"`}},
		{Name: "age fractional, boolean gender, numeric name", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": 7, "age": 3.5, "gender": true, "address": "a", "phone_number": "2"}`,
			Status: 400, JSON: `{"age": ["A valid integer is required."], "gender": ["\"true\" is not a valid choice."]}`},
		{Name: "all fields null", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": null, "age": null, "gender": null, "address": null, "phone_number": null}`,
			Status: 400, JSON: `{"name": ["This field may not be null."], "age": ["This field may not be null."], "gender": ["This field may not be null."], "address": ["This field may not be null."], "phone_number": ["This field may not be null."]}`},
		{Name: "age 969 (the original saved it; above 150 is refused)", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "Old", "age": 969, "gender": "O", "address": "a", "phone_number": "555-0200"}`,
			Status: 400, JSON: `{"age": ["Ensure this value is less than or equal to 150."]}`},
		{Name: "age 151 as a string", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "Old", "age": "151", "gender": "O", "address": "a", "phone_number": "555-0200"}`,
			Status: 400, JSON: `{"age": ["Ensure this value is less than or equal to 150."]}`},
		{Name: "age 150 (the upper bound), age as a string", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "Old", "age": "150", "gender": "O", "address": "a", "phone_number": "555-0200"}`,
			Status: 201, Save: "p3", JSON: patientPattern("*int", "alice", "Old", 150, "O", "a", "555-0200")},
		{Name: "phone without digits", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "X", "age": 1, "gender": "M", "address": "a", "phone_number": "abc"}`,
			Status: 400, JSON: `{"phone_number": ["Enter a valid phone number."]}`},
		{Name: "phone of punctuation only, with other errors", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "X", "age": 151, "gender": "M", "address": "a", "phone_number": "(-) +"}`,
			Status: 400, JSON: `{"age": ["Ensure this value is less than or equal to 150."], "phone_number": ["Enter a valid phone number."]}`},
		{Name: "phone of 16 characters with spaces (the 15-character limit stays)", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "X", "age": 1, "gender": "M", "address": "a", "phone_number": "+44 20 7946 0958"}`,
			Status: 400, JSON: `{"phone_number": ["Ensure this field has no more than 15 characters."]}`},
		{Name: "gender given as label 'Male'", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "X", "age": 1, "gender": "Male", "address": "a", "phone_number": "3"}`,
			Status: 400, JSON: `{"gender": ["\"Male\" is not a valid choice."]}`},
		{Name: "gender is case-sensitive", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "X", "age": 1, "gender": "m", "address": "a", "phone_number": "3"}`,
			Status: 400, JSON: `{"gender": ["\"m\" is not a valid choice."]}`},
		{Name: "duplicate phone of the same owner", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "Dup", "age": 1, "gender": "M", "address": "x", "phone_number": "555-0101"}`,
			Status: 400, JSON: `{"phone_number": ["patient with this phone number already exists."]}`},
		{Name: "duplicate phone reported with the other fields' errors", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "Dup", "age": -3, "gender": "M", "address": "x", "phone_number": " 555-0101 "}`,
			Status: 400, JSON: `{"age": ["Ensure this value is greater than or equal to 0."], "phone_number": ["patient with this phone number already exists."]}`},
		{Name: "list", Method: "GET", URL: "/api/patients/", As: "alice", Status: 200,
			JSON: `[` + patientPattern("{{p1}}", "alice", "John Doe", 35, "M", "123 Main St", "555-0101") + `, ` +
				patientPattern("{{p2}}", "alice", "Jane Roe", 0, "F", "1 Elm", "555-0102") + `, ` +
				patientPattern("{{p3}}", "alice", "Old", 150, "O", "a", "555-0200") + `]`},
		{Name: "retrieve", Method: "GET", URL: "/api/patients/{{p1}}/", As: "alice", Status: 200,
			JSON: patientPattern("{{p1}}", "alice", "John Doe", 35, "M", "123 Main St", "555-0101")},
		{Name: "retrieve missing", Method: "GET", URL: "/api/patients/9999/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "PUT", Method: "PUT", URL: "/api/patients/{{p1}}/", As: "alice",
			Body:   `{"name": "John D.", "age": 36, "gender": "M", "address": "124 Main St", "phone_number": "555-0101"}`,
			Status: 200, JSON: patientPattern("{{p1}}", "alice", "John D.", 36, "M", "124 Main St", "555-0101"),
			Check: func(t *testing.T, r *apitest.Response, _ resVars) {
				var got map[string]any
				r.Decode(t, &got)
				if got["created_at"] != john["created_at"] || got["updated_at"] == john["updated_at"] {
					t.Errorf("PUT timestamps: before %v, after %v", john, got)
				}
				john = got
			}},
		{Name: "PUT missing fields", Method: "PUT", URL: "/api/patients/{{p1}}/", As: "alice", Body: `{"age": 36}`, Status: 400,
			JSON: `{"name": ["This field is required."], "gender": ["This field is required."], "address": ["This field is required."], "phone_number": ["This field is required."]}`},
		{Name: "PATCH", Method: "PATCH", URL: "/api/patients/{{p1}}/", As: "alice", Body: `{"age": 37}`, Status: 200,
			JSON: patientPattern("{{p1}}", "alice", "John D.", 37, "M", "124 Main St", "555-0101"),
			Check: func(t *testing.T, r *apitest.Response, _ resVars) {
				var got map[string]any
				r.Decode(t, &got)
				if got["updated_at"] == john["updated_at"] {
					t.Errorf("PATCH left updated_at at %v", got["updated_at"])
				}
			}},
		{Name: "PATCH cannot change the owner", Method: "PATCH", URL: "/api/patients/{{p1}}/", As: "alice", Body: `{"managed_by": "bob", "id": 99}`,
			Status: 200, JSON: patientPattern("{{p1}}", "alice", "John D.", 37, "M", "124 Main St", "555-0101")},
		{Name: "PATCH phone onto another of her patients", Method: "PATCH", URL: "/api/patients/{{p2}}/", As: "alice", Body: `{"phone_number": "555-0101"}`,
			Status: 400, JSON: `{"phone_number": ["patient with this phone number already exists."]}`},
		{Name: "PATCH a phone without digits", Method: "PATCH", URL: "/api/patients/{{p2}}/", As: "alice", Body: `{"phone_number": "n/a"}`,
			Status: 400, JSON: `{"phone_number": ["Enter a valid phone number."]}`},
		{Name: "PATCH age 969", Method: "PATCH", URL: "/api/patients/{{p2}}/", As: "alice", Body: `{"age": 969}`,
			Status: 400, JSON: `{"age": ["Ensure this value is less than or equal to 150."]}`},
		{Name: "PATCH with an invalid field", Method: "PATCH", URL: "/api/patients/{{p2}}/", As: "alice", Body: `{"age": 2147483648, "gender": ""}`,
			Status: 400, JSON: `{"age": ["Ensure this value is less than or equal to 150."], "gender": ["\"\" is not a valid choice."]}`},

		// Patients across users.
		{Name: "bob lists (sees none of alice's)", Method: "GET", URL: "/api/patients/", As: "bob", Status: 200, JSON: `[]`},
		{Name: "bob searches for alice's phone", Method: "GET", URL: "/api/patients/?search=555-0101", As: "bob", Status: 200, JSON: `[]`},
		{Name: "bob retrieves alice's patient", Method: "GET", URL: "/api/patients/{{p1}}/", As: "bob", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "bob PUTs alice's patient", Method: "PUT", URL: "/api/patients/{{p1}}/", As: "bob",
			Body: `{"name": "Hacked", "age": 1, "gender": "M", "address": "x", "phone_number": "999"}`, Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "bob PUTs alice's patient with an invalid body", Method: "PUT", URL: "/api/patients/{{p1}}/", As: "bob",
			Body: `{"name": ""}`, Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "bob PUTs alice's patient with malformed JSON", Method: "PUT", URL: "/api/patients/{{p1}}/", As: "bob",
			Body: `{"name": `, Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "bob PATCHes alice's patient", Method: "PATCH", URL: "/api/patients/{{p1}}/", As: "bob", Body: `{"name": "Hacked"}`,
			Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "bob PATCHes alice's patient with alice's other phone", Method: "PATCH", URL: "/api/patients/{{p1}}/", As: "bob",
			Body: `{"phone_number": "555-0102", "age": -1}`, Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "bob DELETEs alice's patient", Method: "DELETE", URL: "/api/patients/{{p1}}/", As: "bob", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "bob asks for alice's patient's doctors", Method: "GET", URL: "/api/patients/{{p1}}/doctors/", As: "bob", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "bob reuses alice's patient's phone number (allowed: unique per owner)", Method: "POST", URL: "/api/patients/", As: "bob",
			Body:   `{"name": "Probe", "age": 1, "gender": "M", "address": "x", "phone_number": "555-0101"}`,
			Status: 201, JSON: patientPattern("*int", "bob", "Probe", 1, "M", "x", "555-0101")},
		{Name: "bob creates his own patient", Method: "POST", URL: "/api/patients/", As: "bob",
			Body:   `{"name": "Bob's Patient", "age": 50, "gender": "O", "address": "9 Oak", "phone_number": "555-0900"}`,
			Status: 201, Save: "p4", JSON: patientPattern("*int", "bob", "Bob's Patient", 50, "O", "9 Oak", "555-0900")},
		{Name: "bob's list has only his", Method: "GET", URL: "/api/patients/", As: "bob", Status: 200,
			Absent: []string{"alice", "John"}, Contains: []string{"Probe", "Bob's Patient"},
			Check: func(t *testing.T, r *apitest.Response, _ resVars) {
				if got := r.Header.Get("X-Total-Count"); got != "2" {
					t.Errorf("X-Total-Count %q, want 2", got)
				}
			}},
		{Name: "alice cannot see bob's", Method: "GET", URL: "/api/patients/{{p4}}/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "alice's patient unchanged by bob's attempts", Method: "GET", URL: "/api/patients/{{p1}}/", As: "alice", Status: 200,
			JSON: patientPattern("{{p1}}", "alice", "John D.", 37, "M", "124 Main St", "555-0101")},
		{Name: "delete own patient", Method: "DELETE", URL: "/api/patients/{{p2}}/", As: "alice", Status: 204},
		{Name: "retrieve deleted", Method: "GET", URL: "/api/patients/{{p2}}/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "the deleted patient's phone is free again", Method: "POST", URL: "/api/patients/", As: "alice",
			Body: `{"name": "Jane Again", "age": 1, "gender": "F", "address": "1 Elm", "phone_number": "555-0102"}`, Status: 201},
		{Name: "no token", Method: "GET", URL: "/api/patients/{{p1}}/", Status: 401, JSON: `{"detail": "Authentication credentials were not provided."}`},
		{Name: "garbage token", Method: "GET", URL: "/api/patients/", Header: map[string]string{"Authorization": "Bearer nope"}, Status: 401,
			Contains: []string{`"code":"token_not_valid"`}},
	})
}

// TestPatientsList covers pagination, search, ordering and the gender filter, per owner.
func TestPatientsList(t *testing.T) {
	t.Parallel()
	f := newResFixture(t)
	genders := []string{"M", "F", "O"}
	for i := 1; i <= 12; i++ {
		f.create(t, "/api/patients/", "alice", fmt.Sprintf(`{"name": "Pat %02d", "age": %d, "gender": %q, "address": "%d Elm St", "phone_number": "555-%04d"}`,
			i, 50-i, genders[i%3], i, i))
	}
	// bob has look-alikes that must never show up in alice's lists.
	for i := 1; i <= 3; i++ {
		f.create(t, "/api/patients/", "bob", fmt.Sprintf(`{"name": "Pat %02d", "age": 1, "gender": "M", "address": "Elm", "phone_number": "555-%04d"}`, i, i))
	}
	expect := func(total string, want ...string) func(*testing.T, *apitest.Response, resVars) {
		return func(t *testing.T, r *apitest.Response, _ resVars) {
			if got := r.Header.Get("X-Total-Count"); got != total {
				t.Errorf("X-Total-Count %q, want %q", got, total)
			}
			var ps []struct{ Name, ManagedBy string }
			if err := json.Unmarshal(r.Body, &ps); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range ps {
				names = append(names, p.Name)
			}
			if want != nil && strings.Join(names, "|") != strings.Join(want, "|") {
				t.Errorf("names %q, want %q", names, want)
			}
			if strings.Contains(string(r.Body), `"managed_by":"bob"`) {
				t.Errorf("alice's list shows bob's patients: %s", r.Body)
			}
		}
	}
	f.run(t, []resScenario{
		{Name: "all", Method: "GET", URL: "/api/patients/", As: "alice", Status: 200, Check: expect("12")},
		{Name: "page", Method: "GET", URL: "/api/patients/?limit=2&offset=4", As: "alice", Status: 200, Check: expect("12", "Pat 05", "Pat 06")},
		{Name: "order by age", Method: "GET", URL: "/api/patients/?ordering=age&limit=2", As: "alice", Status: 200, Check: expect("12", "Pat 12", "Pat 11")},
		{Name: "order by -age", Method: "GET", URL: "/api/patients/?ordering=-age&limit=2", As: "alice", Status: 200, Check: expect("12", "Pat 01", "Pat 02")},
		{Name: "order by -name", Method: "GET", URL: "/api/patients/?ordering=-name&limit=1", As: "alice", Status: 200, Check: expect("12", "Pat 12")},
		{Name: "order by -created_at", Method: "GET", URL: "/api/patients/?ordering=-created_at&limit=1", As: "alice", Status: 200, Check: expect("12", "Pat 12")},
		{Name: "order by updated_at", Method: "GET", URL: "/api/patients/?ordering=updated_at&limit=1", As: "alice", Status: 200, Check: expect("12", "Pat 01")},
		{Name: "ordering by a field that is not allowed", Method: "GET", URL: "/api/patients/?ordering=phone_number", As: "alice", Status: 400, Contains: []string{`"ordering"`}},
		{Name: "ordering by managed_by is not allowed", Method: "GET", URL: "/api/patients/?ordering=-managed_by", As: "alice", Status: 400, Contains: []string{`"ordering"`}},
		{Name: "search name", Method: "GET", URL: "/api/patients/?search=pat%201", As: "alice", Status: 200, Check: expect("3", "Pat 10", "Pat 11", "Pat 12")},
		{Name: "search phone", Method: "GET", URL: "/api/patients/?search=555-0003", As: "alice", Status: 200, Check: expect("1", "Pat 03")},
		{Name: "search address", Method: "GET", URL: "/api/patients/?search=7%20elm", As: "alice", Status: 200, Check: expect("1", "Pat 07")},
		{Name: "search wildcard literal", Method: "GET", URL: "/api/patients/?search=%25", As: "alice", Status: 200, JSON: `[]`, Check: expect("0")},
		{Name: "gender filter", Method: "GET", URL: "/api/patients/?gender=F", As: "alice", Status: 200,
			Check: expect("4", "Pat 01", "Pat 04", "Pat 07", "Pat 10")},
		{Name: "gender filter with search and ordering", Method: "GET", URL: "/api/patients/?gender=M&search=pat&ordering=-id&limit=2", As: "alice", Status: 200,
			Check: expect("4", "Pat 12", "Pat 09")},
		{Name: "invalid gender filter", Method: "GET", URL: "/api/patients/?gender=X", As: "alice", Status: 400,
			JSON: `{"gender": ["\"X\" is not a valid choice."]}`},
		{Name: "lowercase gender filter", Method: "GET", URL: "/api/patients/?gender=f", As: "alice", Status: 400,
			JSON: `{"gender": ["\"f\" is not a valid choice."]}`},
		{Name: "several bad parameters at once", Method: "GET", URL: "/api/patients/?limit=-1&ordering=nope&gender=Male", As: "alice", Status: 400,
			Contains: []string{`"limit"`, `"ordering"`, `"gender":["\"Male\" is not a valid choice."]`}},
		{Name: "bob sees his three", Method: "GET", URL: "/api/patients/?search=pat", As: "bob", Status: 200,
			Check: func(t *testing.T, r *apitest.Response, _ resVars) {
				if got := r.Header.Get("X-Total-Count"); got != "3" {
					t.Errorf("X-Total-Count %q, want 3", got)
				}
			}},
	})
}

// TestPatientsSearchDigits: a search that reads as a phone number compares digits, so the number
// is found however either side wrote its spaces, dashes and brackets; other terms match as text.
func TestPatientsSearchDigits(t *testing.T) {
	t.Parallel()
	f := newResFixture(t)
	f.create(t, "/api/patients/", "alice", `{"name": "Spaced", "age": 40, "gender": "F", "address": "1 Elm", "phone_number": "+1 555 200 1000"}`)
	f.create(t, "/api/patients/", "alice", `{"name": "Packed", "age": 41, "gender": "M", "address": "2 Elm", "phone_number": "+15552002000"}`)
	f.create(t, "/api/patients/", "alice", `{"name": "Room 555", "age": 42, "gender": "O", "address": "Flat 200", "phone_number": "020 7946 0958"}`)
	f.create(t, "/api/patients/", "bob", `{"name": "Bob's", "age": 43, "gender": "O", "address": "3 Elm", "phone_number": "+1 555 200 1000"}`)
	names := func(want ...string) func(*testing.T, *apitest.Response, resVars) {
		return func(t *testing.T, r *apitest.Response, _ resVars) {
			var ps []struct{ Name string }
			r.Decode(t, &ps)
			var got []string
			for _, p := range ps {
				got = append(got, p.Name)
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("names %q, want %q", got, want)
			}
		}
	}
	f.run(t, []resScenario{
		{Name: "digits find a spaced number", Method: "GET", URL: "/api/patients/?search=555200", As: "alice", Status: 200, Check: names("Spaced", "Packed")},
		{Name: "digits find it by its end", Method: "GET", URL: "/api/patients/?search=2001000", As: "alice", Status: 200, Check: names("Spaced")},
		{Name: "a spaced term finds a packed number", Method: "GET", URL: "/api/patients/?search=%28555%29%20200-2", As: "alice", Status: 200, Check: names("Packed")},
		{Name: "a leading plus and spaces", Method: "GET", URL: "/api/patients/?search=%2B44%2020%207946", As: "alice", Status: 200, Check: names()},
		{Name: "words are text, not digits", Method: "GET", URL: "/api/patients/?search=room%20555", As: "alice", Status: 200, Check: names("Room 555")},
		{Name: "text still matches the stored number as typed", Method: "GET", URL: "/api/patients/?search=555%20200", As: "alice", Status: 200, Check: names("Spaced", "Packed")},
		{Name: "only the caller's patients", Method: "GET", URL: "/api/patients/?search=5552001000", As: "bob", Status: 200, Check: names("Bob's")},
	})
}

// TestPatientsRaceOnPhone: parallel identical creations end as one 201 and 400s, never a 500.
func TestPatientsRaceOnPhone(t *testing.T) {
	t.Parallel()
	f := newResFixture(t, "alice", "bob")
	body := `{"name": "Racer", "age": 30, "gender": "F", "address": "1 Track", "phone_number": "555-7777"}`
	counts := f.resParallel(t, 12, http.MethodPost, "/api/patients/", "alice", body)
	if counts[201] != 1 || counts[400] != 11 {
		t.Fatalf("statuses %v, want one 201 and eleven 400", counts)
	}
	// The same number is still free for another owner.
	if r := f.do(t, http.MethodPost, "/api/patients/", "bob", body); r.Status != 201 {
		t.Fatalf("bob: %d %s", r.Status, r.Body)
	}
}

// TestResourceBadIDs: ids that are 0, negative, non-numeric or beyond int64 in any resource path
// are DRF's 404, for every method; NUL characters and odd bodies on patients are a 400.
func TestResourceBadIDs(t *testing.T) {
	t.Parallel()
	f := newResFixture(t, "alice")
	var scenarios []resScenario
	bodies := map[string]string{
		"doctors":  `{"name": "a", "specialization": "b", "contact_info": "c"}`,
		"patients": `{"name": "a", "age": 1, "gender": "M", "address": "a", "phone_number": "1"}`,
		"mappings": `{"patient": 1, "doctor": 1}`,
	}
	for _, id := range []string{"0", "-1", "abc", "1.0", "99999999999999999999", "9223372036854775808", "9223372036854775807", "1%00", "%E2%82%AC"} {
		for _, res := range []string{"doctors", "patients", "mappings"} {
			for _, method := range []string{"GET", "PUT", "PATCH", "DELETE"} {
				s := resScenario{Name: fmt.Sprintf("%s %s %s", method, res, id), Method: method, URL: "/api/" + res + "/" + id + "/",
					As: "alice", Status: 404, JSON: `{"detail": "Not found."}`}
				if method == "PUT" || method == "PATCH" {
					s.Body = bodies[res]
				}
				scenarios = append(scenarios, s)
			}
		}
		scenarios = append(scenarios, resScenario{Name: "patient doctors " + id, Method: "GET", URL: "/api/patients/" + id + "/doctors/",
			As: "alice", Status: 404, JSON: `{"detail": "Not found."}`})
	}
	scenarios = append(scenarios,
		resScenario{Name: "patient NUL characters", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "\u0000", "age": 1, "gender": "\u0000", "address": "a\u0000", "phone_number": "1\u0000"}`,
			Status: 400, JSON: `{"name": ["Null characters are not allowed."], "gender": "*", "address": ["Null characters are not allowed."], "phone_number": ["Null characters are not allowed."]}`},
		resScenario{Name: "patient array body", Method: "POST", URL: "/api/patients/", As: "alice", Body: `[]`, Status: 400,
			JSON: `{"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}`},
		resScenario{Name: "patient malformed JSON", Method: "POST", URL: "/api/patients/", As: "alice", Body: `{"age": 1,}`, Status: 400,
			Contains: []string{`"detail":"JSON parse error - `}},
		resScenario{Name: "patient wrong content type", Method: "POST", URL: "/api/patients/", As: "alice", Body: `<xml/>`,
			Header: map[string]string{"Content-Type": "application/xml"}, Status: 415},
		resScenario{Name: "patient age as float string beyond int32", Method: "POST", URL: "/api/patients/", As: "alice",
			Body:   `{"name": "a", "age": "4294967296.0", "gender": "M", "address": "a", "phone_number": "1"}`,
			Status: 400, JSON: `{"age": ["Ensure this value is less than or equal to 150."]}`},
		resScenario{Name: "mapping NUL in an id string", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": "1\u0000", "doctor": "\u0000"}`,
			Status: 400, JSON: `{"patient": ["Incorrect type. Expected pk value, received str."], "doctor": ["Incorrect type. Expected pk value, received str."]}`},
	)
	f.run(t, scenarios)
}
