package api_test

import (
	"bytes"
	"mime/multipart"
	"net/url"
	"testing"

	"healthcare/app/api/apitest"
)

// TestFormBodies: clients of the original that post HTML forms (curl -d, multipart) keep working;
// form values are strings, read like JSON strings, and the last of a repeated key wins.
func TestFormBodies(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	form := func(v url.Values) map[string]string {
		return map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	}
	post := func(path, token string, v url.Values) *apitest.Response {
		return e.Do(apitest.Request{Method: "POST", Path: path, Token: token, Body: v.Encode(), Header: form(v)})
	}
	r := post("/api/auth/register/", "", url.Values{"username": {"formuser"}, "email": {"f@example.com"},
		"password": {apitest.Password}, "password2": {apitest.Password}})
	if r.Status != 201 {
		t.Fatalf("register by form: %d %s", r.Status, r.Body)
	}
	r = post("/api/auth/login/", "", url.Values{"username": {"formuser"}, "password": {apitest.Password}})
	if r.Status != 200 {
		t.Fatalf("login by form: %d %s", r.Status, r.Body)
	}
	var tokens struct{ Access string }
	r.Decode(t, &tokens)

	r = post("/api/doctors/", tokens.Access, url.Values{"name": {"Dr Form"}, "specialization": {"GP"}, "contact_info": {"form@x"}})
	if r.Status != 201 {
		t.Fatalf("doctor by form: %d %s", r.Status, r.Body)
	}
	r = post("/api/patients/", tokens.Access, url.Values{"name": {"Pat Form"}, "age": {"7", "41"}, "gender": {"F"},
		"address": {"1 Form St"}, "phone_number": {"555-7777"}})
	if r.Status != 201 || !bytes.Contains(r.Body, []byte(`"age":41`)) {
		t.Fatalf("patient by form (last age wins): %d %s", r.Status, r.Body)
	}
	r = post("/api/patients/", tokens.Access, url.Values{"name": {""}, "age": {"x"}, "gender": {"Q"}})
	want := `{"name":["This field may not be blank."],"age":["A valid integer is required."],"gender":["\"Q\" is not a valid choice."],"address":["This field is required."],"phone_number":["This field is required."]}`
	if r.Status != 400 || string(r.Body) != want {
		t.Fatalf("bad patient form: %d %s", r.Status, r.Body)
	}

	// multipart/form-data, as browsers and the original's browsable API send it.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"patient": "1", "doctor": "1"} {
		_ = mw.WriteField(k, v)
	}
	mw.Close()
	r = e.Do(apitest.Request{Method: "POST", Path: "/api/mappings/", Token: tokens.Access, Body: buf.Bytes(),
		Header: map[string]string{"Content-Type": mw.FormDataContentType()}})
	if r.Status != 201 || !bytes.Contains(r.Body, []byte(`"patient_name":"Pat Form"`)) {
		t.Fatalf("mapping by multipart form: %d %s", r.Status, r.Body)
	}
	r = e.Do(apitest.Request{Method: "POST", Path: "/api/doctors/", Token: tokens.Access, Body: "--x\r\nbroken",
		Header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}})
	if r.Status != 400 {
		t.Fatalf("broken multipart: %d %s", r.Status, r.Body)
	}
	r = e.Do(apitest.Request{Method: "POST", Path: "/api/doctors/", Token: tokens.Access, Body: "name=x",
		Header: map[string]string{"Content-Type": "text/plain"}})
	if r.Status != 415 {
		t.Fatalf("text/plain: %d %s", r.Status, r.Body)
	}
}
