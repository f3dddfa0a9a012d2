package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"healthcare/app/api/apitest"
)

// mappingPattern is the JSON pattern of one assignment.
func mappingPattern(id, patient, doctor, patientName, doctorName string) string {
	return fmt.Sprintf(`{"id": %s, "patient": %s, "doctor": %s, "patient_name": %q, "doctor_name": %q, "assigned_at": "*ts"}`,
		resID(id), patient, doctor, patientName, doctorName)
}

const invalidPK = `Invalid pk \"%s\" - object does not exist.`

// invalid is the {"field": ["Invalid pk \"id\" - object does not exist."]} pattern.
func invalidPKPattern(field, id string) string {
	return fmt.Sprintf(`{%q: ["`+invalidPK+`"]}`, field, id)
}

// mappingFixture is the transcript's cast: two doctors, alice's patients p1 and p2, bob's p4.
func mappingFixture(t *testing.T) *resFixture {
	f := newResFixture(t)
	set := func(name string, id int64) { f.vars[name] = fmt.Sprint(id) }
	set("d1", f.create(t, "/api/doctors/", "alice", `{"name": "Alice W.", "specialization": "Cardiology", "contact_info": "alice@wonder.land"}`))
	set("d2", f.create(t, "/api/doctors/", "bob", `{"name": "Edited by bob", "specialization": "Dermatology", "contact_info": "jay@wonder.land"}`))
	set("p1", f.create(t, "/api/patients/", "alice", `{"name": "John D.", "age": 37, "gender": "M", "address": "124 Main St", "phone_number": "555-0101"}`))
	set("p2", f.create(t, "/api/patients/", "alice", `{"name": "Jane Roe", "age": 0, "gender": "F", "address": "1 Elm", "phone_number": "555-0102"}`))
	set("p3", f.create(t, "/api/patients/", "alice", `{"name": "Old", "age": 150, "gender": "O", "address": "a", "phone_number": "555-0200"}`))
	set("p4", f.create(t, "/api/patients/", "bob", `{"name": "Bob's Patient", "age": 50, "gender": "O", "address": "9 Oak", "phone_number": "555-0900"}`))
	return f
}

// TestMappings replays the transcript's Mappings, "patient doctors" and "Deletes and cascades"
// sections with API.md's difference 1: assignments are scoped to the caller's patients.
func TestMappings(t *testing.T) {
	t.Parallel()
	f := mappingFixture(t)
	var m2 map[string]any
	d1 := doctorPattern("{{d1}}", "Alice W.", "Cardiology", "alice@wonder.land")
	d2 := doctorPattern("{{d2}}", "Edited by bob", "Dermatology", "jay@wonder.land")
	f.run(t, []resScenario{
		{Name: "list (empty)", Method: "GET", URL: "/api/mappings/", As: "alice", Status: 200, JSON: `[]`},
		{Name: "create with empty body", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{}`, Status: 400,
			JSON: `{"patient": ["This field is required."], "doctor": ["This field is required."]}`},
		{Name: "create", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": {{p1}}, "doctor": {{d1}}}`, Status: 201, Save: "m1",
			JSON: mappingPattern("*int", "{{p1}}", "{{d1}}", "John D.", "Alice W.")},
		{Name: "create second doctor for same patient", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": {{p1}}, "doctor": {{d2}}}`,
			Status: 201, Save: "m2", JSON: mappingPattern("*int", "{{p1}}", "{{d2}}", "John D.", "Edited by bob"),
			Check: func(t *testing.T, r *apitest.Response, _ resVars) { r.Decode(t, &m2) }},
		{Name: "duplicate", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": {{p1}}, "doctor": {{d1}}}`, Status: 400,
			JSON: `{"non_field_errors": ["The fields patient, doctor must make a unique set."]}`},
		{Name: "non-existent patient and doctor", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": 9999, "doctor": 9999}`, Status: 400,
			JSON: `{"patient": ["Invalid pk \"9999\" - object does not exist."], "doctor": ["Invalid pk \"9999\" - object does not exist."]}`},
		{Name: "non-existent doctor only", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": {{p1}}, "doctor": 9999}`, Status: 400,
			JSON: invalidPKPattern("doctor", "9999")},
		{Name: "wrong types", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": "abc", "doctor": {"id": 1}}`, Status: 400,
			JSON: `{"patient": ["Incorrect type. Expected pk value, received str."], "doctor": ["Incorrect type. Expected pk value, received dict."]}`},
		{Name: "wrong type beside a missing patient: both reported, in order", Method: "POST", URL: "/api/mappings/", As: "alice",
			Body:   `{"patient": 9999, "doctor": [1]}`,
			Status: 400, JSON: `{"patient": ["Invalid pk \"9999\" - object does not exist."], "doctor": ["Incorrect type. Expected pk value, received list."]}`},
		{Name: "wrong type beside someone else's patient: the same", Method: "POST", URL: "/api/mappings/", As: "alice",
			Body:   `{"patient": {{p4}}, "doctor": true}`,
			Status: 400, JSON: `{"patient": ["Invalid pk \"{{p4}}\" - object does not exist."], "doctor": ["Incorrect type. Expected pk value, received bool."]}`},
		{Name: "ids out of range", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": 0, "doctor": -5}`, Status: 400,
			JSON: `{"patient": ["Invalid pk \"0\" - object does not exist."], "doctor": ["Invalid pk \"-5\" - object does not exist."]}`},
		{Name: "ids beyond int64", Method: "POST", URL: "/api/mappings/", As: "alice",
			Body:   `{"patient": 99999999999999999999, "doctor": "9223372036854775808"}`,
			Status: 400, JSON: `{"patient": ["Invalid pk \"99999999999999999999\" - object does not exist."], "doctor": ["Invalid pk \"9223372036854775808\" - object does not exist."]}`},
		{Name: "max int64 id", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": 9223372036854775807, "doctor": {{d1}}}`, Status: 400,
			JSON: invalidPKPattern("patient", "9223372036854775807")},
		{Name: "fractional and null ids", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": 1.5, "doctor": null}`, Status: 400,
			JSON: `{"patient": ["Incorrect type. Expected pk value, received float."], "doctor": ["This field may not be null."]}`},
		{Name: "ids as strings (accepted)", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": "{{p2}}", "doctor": "{{d1}}"}`,
			Status: 201, Save: "m3", JSON: mappingPattern("*int", "{{p2}}", "{{d1}}", "Jane Roe", "Alice W.")},
		{Name: "BOB maps a doctor onto ALICE's patient (refused as if it did not exist)", Method: "POST", URL: "/api/mappings/", As: "bob",
			Body: `{"patient": {{p2}}, "doctor": {{d2}}}`, Status: 400, JSON: invalidPKPattern("patient", "{{p2}}")},
		{Name: "BOB maps an already-assigned pair of ALICE's (no uniqueness leak)", Method: "POST", URL: "/api/mappings/", As: "bob",
			Body: `{"patient": {{p1}}, "doctor": {{d1}}}`, Status: 400, JSON: invalidPKPattern("patient", "{{p1}}")},
		{Name: "BOB maps ALICE's patient to a missing doctor: same as a missing patient", Method: "POST", URL: "/api/mappings/", As: "bob",
			Body:   `{"patient": {{p2}}, "doctor": 9999}`,
			Status: 400, JSON: `{"patient": ["Invalid pk \"{{p2}}\" - object does not exist."], "doctor": ["Invalid pk \"9999\" - object does not exist."]}`},
		{Name: "bob maps his own patient", Method: "POST", URL: "/api/mappings/", As: "bob", Body: `{"patient": {{p4}}, "doctor": {{d1}}}`,
			Status: 201, Save: "m5", JSON: mappingPattern("*int", "{{p4}}", "{{d1}}", "Bob's Patient", "Alice W.")},
		{Name: "list as alice (only her patients')", Method: "GET", URL: "/api/mappings/", As: "alice", Status: 200,
			JSON: `[` + mappingPattern("{{m1}}", "{{p1}}", "{{d1}}", "John D.", "Alice W.") + `, ` +
				mappingPattern("{{m2}}", "{{p1}}", "{{d2}}", "John D.", "Edited by bob") + `, ` +
				mappingPattern("{{m3}}", "{{p2}}", "{{d1}}", "Jane Roe", "Alice W.") + `]`},
		{Name: "list as bob (no alice patient names)", Method: "GET", URL: "/api/mappings/", As: "bob", Status: 200,
			JSON: `[` + mappingPattern("{{m5}}", "{{p4}}", "{{d1}}", "Bob's Patient", "Alice W.") + `]`},
		{Name: "list paging and ordering", Method: "GET", URL: "/api/mappings/?ordering=-assigned_at&limit=1&offset=1", As: "alice", Status: 200,
			JSON: `[` + mappingPattern("{{m2}}", "{{p1}}", "{{d2}}", "John D.", "Edited by bob") + `]`,
			Check: func(t *testing.T, r *apitest.Response, _ resVars) {
				if r.Header.Get("X-Total-Count") != "3" || !strings.Contains(r.Header.Get("Link"), `rel="next"`) ||
					!strings.Contains(r.Header.Get("Link"), `rel="prev"`) {
					t.Errorf("headers %v", r.Header)
				}
			}},
		{Name: "list ordering by -id", Method: "GET", URL: "/api/mappings/?ordering=-id&limit=1", As: "alice", Status: 200,
			JSON: `[` + mappingPattern("{{m3}}", "{{p2}}", "{{d1}}", "Jane Roe", "Alice W.") + `]`},
		{Name: "list ordering not allowed", Method: "GET", URL: "/api/mappings/?ordering=patient_name", As: "alice", Status: 400, Contains: []string{`"ordering"`}},
		{Name: "list bad limit", Method: "GET", URL: "/api/mappings/?limit=1001", As: "alice", Status: 400,
			JSON: `{"limit": ["Ensure this value is less than or equal to 1000."]}`},
		{Name: "retrieve", Method: "GET", URL: "/api/mappings/{{m1}}/", As: "alice", Status: 200,
			JSON: mappingPattern("{{m1}}", "{{p1}}", "{{d1}}", "John D.", "Alice W.")},
		{Name: "bob retrieves alice's mapping", Method: "GET", URL: "/api/mappings/{{m1}}/", As: "bob", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "retrieve missing", Method: "GET", URL: "/api/mappings/9999/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "retrieve non-numeric", Method: "GET", URL: "/api/mappings/x1/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "PUT: alice repoints her mapping to BOB's patient (refused)", Method: "PUT", URL: "/api/mappings/{{m2}}/", As: "alice",
			Body: `{"patient": {{p4}}, "doctor": {{d2}}}`, Status: 400, JSON: invalidPKPattern("patient", "{{p4}}")},
		{Name: "PATCH: alice repoints her mapping to BOB's patient (refused)", Method: "PATCH", URL: "/api/mappings/{{m2}}/", As: "alice",
			Body: `{"patient": {{p4}}}`, Status: 400, JSON: invalidPKPattern("patient", "{{p4}}")},
		{Name: "PUT onto an existing pair -> unique error", Method: "PUT", URL: "/api/mappings/{{m2}}/", As: "alice",
			Body: `{"patient": {{p1}}, "doctor": {{d1}}}`, Status: 400, JSON: `{"non_field_errors": ["The fields patient, doctor must make a unique set."]}`},
		{Name: "PUT missing a field", Method: "PUT", URL: "/api/mappings/{{m2}}/", As: "alice", Body: `{"patient": {{p1}}}`, Status: 400,
			JSON: `{"doctor": ["This field is required."]}`},
		{Name: "PATCH to a missing doctor", Method: "PATCH", URL: "/api/mappings/{{m2}}/", As: "alice", Body: `{"doctor": 9999}`, Status: 400,
			JSON: invalidPKPattern("doctor", "9999")},
		{Name: "PATCH to another of her patients", Method: "PATCH", URL: "/api/mappings/{{m2}}/", As: "alice", Body: `{"patient": {{p2}}}`, Status: 200,
			JSON: mappingPattern("{{m2}}", "{{p2}}", "{{d2}}", "Jane Roe", "Edited by bob"),
			Check: func(t *testing.T, r *apitest.Response, _ resVars) {
				var got map[string]any
				r.Decode(t, &got)
				if got["assigned_at"] != m2["assigned_at"] {
					t.Errorf("assigned_at changed: %v → %v", m2["assigned_at"], got["assigned_at"])
				}
			}},
		{Name: "PATCH (back to alice's patient)", Method: "PATCH", URL: "/api/mappings/{{m2}}/", As: "alice", Body: `{"patient": "{{p1}}"}`, Status: 200,
			JSON: mappingPattern("{{m2}}", "{{p1}}", "{{d2}}", "John D.", "Edited by bob")},
		{Name: "PATCH with an empty body changes nothing", Method: "PATCH", URL: "/api/mappings/{{m2}}/", As: "alice", Body: `{}`, Status: 200,
			JSON: mappingPattern("{{m2}}", "{{p1}}", "{{d2}}", "John D.", "Edited by bob")},
		{Name: "PUT the same pair again is no conflict with itself", Method: "PUT", URL: "/api/mappings/{{m2}}/", As: "alice",
			Body: `{"patient": {{p1}}, "doctor": {{d2}}, "id": 777, "assigned_at": "2000-01-01T00:00:00Z", "patient_name": "x"}`, Status: 200,
			JSON: mappingPattern("{{m2}}", "{{p1}}", "{{d2}}", "John D.", "Edited by bob")},
		{Name: "bob PUTs alice's mapping onto his patient", Method: "PUT", URL: "/api/mappings/{{m1}}/", As: "bob",
			Body: `{"patient": {{p4}}, "doctor": {{d2}}}`, Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "bob PUTs alice's mapping with an invalid body", Method: "PUT", URL: "/api/mappings/{{m1}}/", As: "bob",
			Body: `{"patient": "x"}`, Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "bob PATCHes alice's mapping", Method: "PATCH", URL: "/api/mappings/{{m1}}/", As: "bob", Body: `{"doctor": {{d2}}}`,
			Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "bob PATCHes his mapping onto alice's patient", Method: "PATCH", URL: "/api/mappings/{{m5}}/", As: "bob", Body: `{"patient": {{p1}}}`,
			Status: 400, JSON: invalidPKPattern("patient", "{{p1}}")},
		{Name: "bob PUTs his mapping onto alice's patient", Method: "PUT", URL: "/api/mappings/{{m5}}/", As: "bob", Body: `{"patient": {{p1}}, "doctor": {{d1}}}`,
			Status: 400, JSON: invalidPKPattern("patient", "{{p1}}")},

		// GET /api/patients/<id>/doctors/
		{Name: "patient doctors: alice's patient", Method: "GET", URL: "/api/patients/{{p1}}/doctors/", As: "alice", Status: 200,
			JSON: `[` + d1 + `, ` + d2 + `]`},
		{Name: "patient doctors: second patient", Method: "GET", URL: "/api/patients/{{p2}}/doctors/", As: "alice", Status: 200, JSON: `[` + d1 + `]`},
		{Name: "patient doctors: patient without doctors", Method: "GET", URL: "/api/patients/{{p3}}/doctors/", As: "alice", Status: 200, JSON: `[]`},
		{Name: "patient doctors: bob asks for alice's patient", Method: "GET", URL: "/api/patients/{{p1}}/doctors/", As: "bob", Status: 404,
			JSON: `{"detail": "Not found."}`},
		{Name: "patient doctors: bob's own shows nothing of alice's", Method: "GET", URL: "/api/patients/{{p4}}/doctors/", As: "bob", Status: 200,
			JSON: `[` + d1 + `]`},
		{Name: "patient doctors: missing patient", Method: "GET", URL: "/api/patients/9999/doctors/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "patient doctors: bad ids", Method: "GET", URL: "/api/patients/99999999999999999999/doctors/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "patient doctors: POST not allowed", Method: "POST", URL: "/api/patients/{{p1}}/doctors/", As: "alice", Body: `{}`, Status: 405,
			JSON: `{"detail": "Method \"POST\" not allowed."}`},
		{Name: "patient doctors: no token", Method: "GET", URL: "/api/patients/{{p1}}/doctors/", Status: 401},

		// Deletes and cascades.
		{Name: "bob deletes alice's mapping (refused)", Method: "DELETE", URL: "/api/mappings/{{m1}}/", As: "bob", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "alice deletes her mapping", Method: "DELETE", URL: "/api/mappings/{{m1}}/", As: "alice", Status: 204},
		{Name: "retrieve deleted", Method: "GET", URL: "/api/mappings/{{m1}}/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "delete again", Method: "DELETE", URL: "/api/mappings/{{m1}}/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "PATCH deleted", Method: "PATCH", URL: "/api/mappings/{{m1}}/", As: "alice", Body: `{}`, Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "delete a doctor that has mappings (CASCADE)", Method: "DELETE", URL: "/api/doctors/{{d2}}/", As: "alice", Status: 204},
		{Name: "list after doctor delete", Method: "GET", URL: "/api/mappings/", As: "alice", Status: 200,
			JSON: `[` + mappingPattern("{{m3}}", "{{p2}}", "{{d1}}", "Jane Roe", "Alice W.") + `]`},
		{Name: "the doctor's mapping is gone", Method: "GET", URL: "/api/mappings/{{m2}}/", As: "alice", Status: 404},
		{Name: "patient doctors after doctor delete", Method: "GET", URL: "/api/patients/{{p1}}/doctors/", As: "alice", Status: 200, JSON: `[]`},
		{Name: "delete own patient (CASCADE to mappings)", Method: "DELETE", URL: "/api/patients/{{p2}}/", As: "alice", Status: 204},
		{Name: "list after patient delete", Method: "GET", URL: "/api/mappings/", As: "alice", Status: 200, JSON: `[]`},
		{Name: "the patient's mapping is gone", Method: "GET", URL: "/api/mappings/{{m3}}/", As: "alice", Status: 404},
		{Name: "patients: retrieve deleted", Method: "GET", URL: "/api/patients/{{p2}}/", As: "alice", Status: 404, JSON: `{"detail": "Not found."}`},
		{Name: "patient doctors of a deleted patient", Method: "GET", URL: "/api/patients/{{p2}}/doctors/", As: "alice", Status: 404},
		{Name: "bob's mapping survives", Method: "GET", URL: "/api/mappings/", As: "bob", Status: 200,
			JSON: `[` + mappingPattern("{{m5}}", "{{p4}}", "{{d1}}", "Bob's Patient", "Alice W.") + `]`},
		{Name: "mapping onto the deleted patient", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": {{p2}}, "doctor": {{d1}}}`,
			Status: 400, JSON: invalidPKPattern("patient", "{{p2}}")},
		{Name: "mapping onto the deleted doctor", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `{"patient": {{p1}}, "doctor": {{d2}}}`,
			Status: 400, JSON: invalidPKPattern("doctor", "{{d2}}")},
		{Name: "bad body: array", Method: "POST", URL: "/api/mappings/", As: "alice", Body: `[1, 2]`, Status: 400,
			JSON: `{"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}`},
		{Name: "bad body: malformed", Method: "PUT", URL: "/api/mappings/{{m5}}/", As: "bob", Body: `{"patient"`, Status: 400,
			Contains: []string{`"detail":"JSON parse error - `}},
		{Name: "bad body: wrong content type", Method: "PATCH", URL: "/api/mappings/{{m5}}/", As: "bob", Body: `{}`,
			Header: map[string]string{"Content-Type": "text/plain"}, Status: 415},
		{Name: "no token", Method: "GET", URL: "/api/mappings/", Status: 401, JSON: `{"detail": "Authentication credentials were not provided."}`},
	})
}

// TestMappingsRaces: parallel duplicate assignments end as exactly one 201 per pair and 400s,
// never a 500 (the original answered some with 500); an assignment racing its patient's deletion
// is a 201 or the "Invalid pk" 400.
func TestMappingsRaces(t *testing.T) {
	t.Parallel()
	f := mappingFixture(t)
	t.Run("same pair", func(t *testing.T) {
		counts := f.resParallel(t, 16, http.MethodPost, "/api/mappings/", "alice", `{"patient": {{p3}}, "doctor": {{d1}}}`)
		if counts[201] != 1 || counts[400] != 15 {
			t.Fatalf("statuses %v, want one 201 and fifteen 400", counts)
		}
	})
	t.Run("8 doctors x 6 at once", func(t *testing.T) {
		var doctors []int64
		for i := 0; i < 8; i++ {
			doctors = append(doctors, f.create(t, "/api/doctors/", "alice",
				fmt.Sprintf(`{"name": "R%d", "specialization": "S", "contact_info": "race%d@x"}`, i, i)))
		}
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			counts = map[int]int{}
			start  = make(chan struct{})
		)
		for _, d := range doctors {
			for i := 0; i < 6; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					r := f.do(t, http.MethodPost, "/api/mappings/", "alice", fmt.Sprintf(`{"patient": {{p2}}, "doctor": %d}`, d))
					resCheckResponse(t, http.MethodPost, r)
					mu.Lock()
					counts[r.Status]++
					mu.Unlock()
				}()
			}
		}
		close(start)
		wg.Wait()
		if counts[201] != 8 || counts[400] != 40 {
			t.Fatalf("statuses %v, want 8×201 and 40×400", counts)
		}
	})
	t.Run("assignment racing the patient's deletion", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			p := f.create(t, "/api/patients/", "alice", fmt.Sprintf(`{"name": "Gone", "age": 1, "gender": "M", "address": "a", "phone_number": "race-%d"}`, i))
			var wg sync.WaitGroup
			var post, del *apitest.Response
			wg.Add(2)
			go func() {
				defer wg.Done()
				post = f.do(t, http.MethodPost, "/api/mappings/", "alice", fmt.Sprintf(`{"patient": %d, "doctor": {{d1}}}`, p))
			}()
			go func() {
				defer wg.Done()
				del = f.do(t, http.MethodDelete, fmt.Sprintf("/api/patients/%d/", p), "alice", "")
			}()
			wg.Wait()
			resCheckResponse(t, http.MethodPost, post)
			if del.Status != 204 {
				t.Fatalf("delete: %d %s", del.Status, del.Body)
			}
			switch post.Status {
			case 201:
			case 400:
				resMatchJSON(t, post.Body, invalidPKPattern("patient", fmt.Sprint(p)))
			default:
				t.Fatalf("post: %d %s", post.Status, post.Body)
			}
		}
		if r := f.do(t, http.MethodGet, "/api/mappings/?limit=1000", "alice", ""); strings.Contains(string(r.Body), `"Gone"`) {
			t.Fatalf("a mapping outlived its patient: %s", r.Body)
		}
	})
	t.Run("concurrent PATCHes onto one pair", func(t *testing.T) {
		// Two mappings of p1 move to the same doctor at once: one wins, the other is the unique 400.
		a := f.create(t, "/api/mappings/", "alice", `{"patient": {{p1}}, "doctor": {{d1}}}`)
		b := f.create(t, "/api/mappings/", "alice", `{"patient": {{p1}}, "doctor": {{d2}}}`)
		d := f.create(t, "/api/doctors/", "alice", `{"name": "Target", "specialization": "S", "contact_info": "target@x"}`)
		var wg sync.WaitGroup
		res := make([]*apitest.Response, 2)
		for i, m := range []int64{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = f.do(t, http.MethodPatch, fmt.Sprintf("/api/mappings/%d/", m), "alice", fmt.Sprintf(`{"doctor": %d}`, d))
			}()
		}
		wg.Wait()
		got := []int{res[0].Status, res[1].Status}
		if !(got[0] == 200 && got[1] == 400 || got[0] == 400 && got[1] == 200) {
			t.Fatalf("statuses %v (%s / %s), want one 200 and one 400", got, res[0].Body, res[1].Body)
		}
	})
}

// TestMappingsForeignKeyRace makes the race deterministic: a transaction deletes the patient or
// doctor and holds its lock while an assignment naming it is written; the write's foreign-key
// check waits for that transaction, which then commits. The answer must be the same "Invalid pk"
// 400 as when the row was already gone, not a 500 from the foreign-key violation.
func TestMappingsForeignKeyRace(t *testing.T) {
	t.Parallel()
	f := mappingFixture(t)
	pool := f.env.Store().Pool()
	ctx := context.Background()
	m := f.create(t, "/api/mappings/", "alice", `{"patient": {{p1}}, "doctor": {{d1}}}`)
	newDoctor := func(name string) string {
		return fmt.Sprint(f.create(t, "/api/doctors/", "alice", fmt.Sprintf(`{"name": %q, "specialization": "S", "contact_info": %q}`, name, name+"@x")))
	}
	cases := []struct {
		name, table, id, method, url, body, field string
	}{
		{"create, patient deleted", "patients", f.vars["p3"], "POST", "/api/mappings/", `{"patient": {{p3}}, "doctor": {{d1}}}`, "patient"},
		{"create, doctor deleted", "doctors", newDoctor("gone1"), "POST", "/api/mappings/", `{"patient": {{p2}}, "doctor": %s}`, "doctor"},
		{"update, doctor deleted", "doctors", newDoctor("gone2"), "PATCH", fmt.Sprintf("/api/mappings/%d/", m), `{"doctor": %s}`, "doctor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.body
			if strings.Contains(body, "%s") {
				body = fmt.Sprintf(body, c.id)
			}
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, "DELETE FROM "+c.table+" WHERE id = $1", c.id); err != nil {
				t.Fatal(err)
			}
			done := make(chan *apitest.Response, 1)
			go func() { done <- f.do(t, c.method, c.url, "alice", body) }()
			// Wait (bounded) until the request's statement is blocked on the deleting transaction.
			for i := 0; ; i++ {
				var waiting int
				if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
					t.Fatal(err)
				}
				if waiting > 0 {
					break
				}
				if i > 1000 {
					t.Fatal("the request never waited for the deleting transaction")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			r := <-done
			resCheckResponse(t, c.method, r)
			if r.Status != 400 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			resMatchJSON(t, r.Body, invalidPKPattern(c.field, c.id))
		})
	}
}

// totalCount asserts the list's X-Total-Count.
func totalCount(want string) func(t *testing.T, r *apitest.Response, _ resVars) {
	return func(t *testing.T, r *apitest.Response, _ resVars) {
		t.Helper()
		if got := r.Header.Get("X-Total-Count"); got != want {
			t.Errorf("X-Total-Count = %q, want %q", got, want)
		}
	}
}

// TestMappingsFilters: ?patient= and ?doctor= narrow the caller's own assignments; another user's
// ids match nothing, and malformed ids are a 400 naming the parameter.
func TestMappingsFilters(t *testing.T) {
	t.Parallel()
	f := mappingFixture(t)
	for _, m := range []struct{ save, as, patient, doctor string }{
		{"m1", "alice", "p1", "d1"}, {"m2", "alice", "p1", "d2"}, {"m3", "alice", "p2", "d1"},
		{"m4", "alice", "p3", "d1"}, {"m5", "bob", "p4", "d1"},
	} {
		id := f.create(t, "/api/mappings/", m.as, fmt.Sprintf(`{"patient": {{%s}}, "doctor": {{%s}}}`, m.patient, m.doctor))
		f.vars[m.save] = fmt.Sprint(id)
	}
	m1 := mappingPattern("{{m1}}", "{{p1}}", "{{d1}}", "John D.", "Alice W.")
	m2 := mappingPattern("{{m2}}", "{{p1}}", "{{d2}}", "John D.", "Edited by bob")
	m3 := mappingPattern("{{m3}}", "{{p2}}", "{{d1}}", "Jane Roe", "Alice W.")
	m4 := mappingPattern("{{m4}}", "{{p3}}", "{{d1}}", "Old", "Alice W.")
	m5 := mappingPattern("{{m5}}", "{{p4}}", "{{d1}}", "Bob's Patient", "Alice W.")
	f.run(t, []resScenario{
		{Name: "by patient", Method: "GET", URL: "/api/mappings/?patient={{p1}}", As: "alice", Status: 200,
			JSON: `[` + m1 + `, ` + m2 + `]`, Check: totalCount("2")},
		{Name: "by doctor: only the caller's patients' assignments", Method: "GET", URL: "/api/mappings/?doctor={{d1}}", As: "alice", Status: 200,
			JSON: `[` + m1 + `, ` + m3 + `, ` + m4 + `]`, Check: totalCount("3")},
		{Name: "by doctor as bob", Method: "GET", URL: "/api/mappings/?doctor={{d1}}", As: "bob", Status: 200,
			JSON: `[` + m5 + `]`, Check: totalCount("1")},
		{Name: "by patient and doctor", Method: "GET", URL: "/api/mappings/?patient={{p1}}&doctor={{d2}}", As: "alice", Status: 200,
			JSON: `[` + m2 + `]`, Check: totalCount("1")},
		{Name: "by patient and doctor, no such pair", Method: "GET", URL: "/api/mappings/?patient={{p2}}&doctor={{d2}}", As: "alice", Status: 200,
			JSON: `[]`, Check: totalCount("0")},
		{Name: "BOB filters by ALICE's patient: nothing", Method: "GET", URL: "/api/mappings/?patient={{p1}}", As: "bob", Status: 200,
			JSON: `[]`, Check: totalCount("0")},
		{Name: "BOB filters by ALICE's patient and a shared doctor: nothing", Method: "GET", URL: "/api/mappings/?patient={{p1}}&doctor={{d1}}", As: "bob",
			Status: 200, JSON: `[]`, Check: totalCount("0")},
		{Name: "ALICE filters by BOB's patient: nothing", Method: "GET", URL: "/api/mappings/?patient={{p4}}", As: "alice", Status: 200,
			JSON: `[]`, Check: totalCount("0")},
		{Name: "missing ids: nothing", Method: "GET", URL: "/api/mappings/?patient=9999&doctor=9223372036854775807", As: "alice", Status: 200, JSON: `[]`},
		{Name: "doctor count with limit=1 (the UI's delete confirmation)", Method: "GET", URL: "/api/mappings/?doctor={{d1}}&limit=1", As: "alice",
			Status: 200, JSON: `[` + m1 + `]`,
			Check: func(t *testing.T, r *apitest.Response, v resVars) {
				totalCount("3")(t, r, v)
				link := r.Header.Get("Link")
				if !strings.Contains(link, `rel="next"`) || !strings.Contains(link, "doctor="+v["d1"]) || strings.Contains(link, `rel="prev"`) {
					t.Errorf("Link %q", link)
				}
			}},
		{Name: "doctor filter with offset and ordering", Method: "GET", URL: "/api/mappings/?doctor={{d1}}&limit=1&offset=2&ordering=-id", As: "alice",
			Status: 200, JSON: `[` + m1 + `]`, Check: totalCount("3")},
		{Name: "doctor filter, offset past the end", Method: "GET", URL: "/api/mappings/?doctor={{d1}}&offset=5", As: "alice",
			Status: 200, JSON: `[]`, Check: totalCount("3")},
		{Name: "patient filter with limit and offset", Method: "GET", URL: "/api/mappings/?patient={{p1}}&limit=1&offset=1", As: "alice",
			Status: 200, JSON: `[` + m2 + `]`, Check: totalCount("2")},
		{Name: "empty values are no filter", Method: "GET", URL: "/api/mappings/?patient=&doctor=", As: "bob", Status: 200,
			JSON: `[` + m5 + `]`, Check: totalCount("1")},
		{Name: "malformed ids", Method: "GET", URL: "/api/mappings/?patient=abc&doctor=1.5", As: "alice", Status: 400,
			JSON: `{"patient": ["A valid integer is required."], "doctor": ["A valid integer is required."]}`},
		{Name: "non-positive ids", Method: "GET", URL: "/api/mappings/?patient=0&doctor=-3", As: "alice", Status: 400,
			JSON: `{"patient": ["Ensure this value is greater than or equal to 1."], "doctor": ["Ensure this value is greater than or equal to 1."]}`},
		{Name: "id beyond int64", Method: "GET", URL: "/api/mappings/?doctor=9223372036854775808", As: "alice", Status: 400,
			JSON: `{"doctor": ["A valid integer is required."]}`},
		{Name: "odd ids: a space, NUL", Method: "GET", URL: "/api/mappings/?patient=%201&doctor=1%00", As: "alice", Status: 400,
			JSON: `{"patient": ["A valid integer is required."], "doctor": ["A valid integer is required."]}`},
		{Name: "bad filter beside a bad limit: all reported", Method: "GET", URL: "/api/mappings/?limit=0&patient=x", As: "alice", Status: 400,
			JSON: `{"limit": ["Ensure this value is greater than or equal to 1."], "patient": ["A valid integer is required."]}`},
		{Name: "filters need a token", Method: "GET", URL: "/api/mappings/?patient={{p1}}", Status: 401},
	})
}
