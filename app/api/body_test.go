package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// parse decodes data like ParseBody does after the content-type check.
func parse(t testing.TB, data string, partial bool) (*Body, error) {
	t.Helper()
	b := &Body{partial: partial, raw: map[string]json.RawMessage{}}
	if strings.TrimSpace(data) == "" {
		return b, nil
	}
	return b, decodeObject([]byte(data), b)
}

func errorJSON(t testing.TB, err error) string {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("not an *Error: %v", err)
	}
	out, jerr := json.Marshal(e.Body)
	if jerr != nil {
		t.Fatal(jerr)
	}
	return string(out)
}

func TestDecodeObjectRejectsNonObjects(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"array", `[1,2]`, `{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}`},
		{"string", `"x"`, `{"non_field_errors":["Invalid data. Expected a dictionary, but got str."]}`},
		{"null", `null`, `{"non_field_errors":["Invalid data. Expected a dictionary, but got NoneType."]}`},
		{"number", `12`, `{"non_field_errors":["Invalid data. Expected a dictionary, but got int."]}`},
		{"malformed", `{"username": `, `{"detail":"JSON parse error - unexpected EOF"}`},
		{"trailing", `{} {}`, `{"detail":"JSON parse error - extra data after the JSON value"}`},
		{"bad utf8", "{\"a\": \"\xff\"}", `{"detail":"JSON parse error - request body is not valid UTF-8"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.body, false)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := errorJSON(t, err); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestFieldsLikeDRF checks each reader against the original's recorded messages.
func TestFieldsLikeDRF(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		partial bool
		read    func(b *Body)
		want    string
	}{
		{"required in field order", `{}`, false, func(b *Body) {
			b.String("name", StringRule{MaxLength: 255})
			b.Int("age", 0, 2147483647)
			b.Choice("gender", "M", "F", "O")
		}, `{"name":["This field is required."],"age":["This field is required."],"gender":["This field is required."]}`},
		{"partial skips absent", `{}`, true, func(b *Body) {
			b.String("name", StringRule{MaxLength: 255})
		}, `{}`},
		{"blank, null, wrong type", `{"name": "  ", "specialization": ["a"], "contact_info": null}`, false, func(b *Body) {
			b.String("name", StringRule{})
			b.String("specialization", StringRule{})
			b.String("contact_info", StringRule{})
		}, `{"name":["This field may not be blank."],"specialization":["Not a valid string."],"contact_info":["This field may not be null."]}`},
		{"number accepted as string", `{"name": 123}`, false, func(b *Body) {
			if s, ok := b.String("name", StringRule{}); !ok || s != "123" {
				t.Errorf("got %q %v", s, ok)
			}
		}, `{}`},
		{"max length counts characters", `{"name": "` + strings.Repeat("é", 255) + `", "n2": "` + strings.Repeat("n", 256) + `"}`, false, func(b *Body) {
			b.String("name", StringRule{MaxLength: 255})
			b.String("n2", StringRule{MaxLength: 255})
		}, `{"n2":["Ensure this field has no more than 255 characters."]}`},
		{"NUL refused", `{"name": "a\u0000b"}`, false, func(b *Body) {
			b.String("name", StringRule{})
		}, `{"name":["Null characters are not allowed."]}`},
		{"password keeps spaces", `{"password": "  pw  "}`, false, func(b *Body) {
			if s, _ := b.String("password", StringRule{NoTrim: true}); s != "  pw  " {
				t.Errorf("got %q", s)
			}
		}, `{}`},
		{"integers", `{"a": -1, "b": "abc", "c": 2147483648, "d": "35", "e": 35.0, "f": 1e400, "g": true}`, false, func(b *Body) {
			b.Int("a", 0, 2147483647)
			b.Int("b", 0, 2147483647)
			b.Int("c", 0, 2147483647)
			if n, ok := b.Int("d", 0, 2147483647); !ok || n != 35 {
				t.Errorf("d: %d %v", n, ok)
			}
			if n, ok := b.Int("e", 0, 2147483647); !ok || n != 35 {
				t.Errorf("e: %d %v", n, ok)
			}
			b.Int("f", 0, 2147483647)
			b.Int("g", 0, 2147483647)
		}, `{"a":["Ensure this value is greater than or equal to 0."],"b":["A valid integer is required."],"c":["Ensure this value is less than or equal to 2147483647."],"f":["A valid integer is required."],"g":["A valid integer is required."]}`},
		{"integer strings as Python's int() takes them", `{"a": "1p3", "b": "3.5e1", "c": " -3 ", "d": "35.00", "e": "+7", "f": 1e16, "g": 2.5}`, false, func(b *Body) {
			b.Int("a", 0, 2147483647)
			b.Int("b", 0, 2147483647)
			b.Int("c", 0, 2147483647)
			if n, ok := b.Int("d", 0, 2147483647); !ok || n != 35 {
				t.Errorf("d: %d %v", n, ok)
			}
			if n, ok := b.Int("e", 0, 2147483647); !ok || n != 7 {
				t.Errorf("e: %d %v", n, ok)
			}
			b.Int("f", 0, 2147483647)
			b.Int("g", 0, 2147483647)
		}, `{"a":["A valid integer is required."],"b":["A valid integer is required."],"c":["Ensure this value is greater than or equal to 0."],"f":["A valid integer is required."],"g":["A valid integer is required."]}`},
		{"choices", `{"gender": "Male", "g2": 1}`, false, func(b *Body) {
			b.Choice("gender", "M", "F", "O")
			b.Choice("g2", "M", "F", "O")
		}, `{"gender":["\"Male\" is not a valid choice."],"g2":["\"1\" is not a valid choice."]}`},
		{"primary keys", `{"patient": "abc", "doctor": {"id": 1}, "a": "2", "b": 0, "c": 99999999999999999999, "d": 1.5, "e": true, "f": "1.0", "g": 3.0}`, false, func(b *Body) {
			b.PK("patient")
			b.PK("doctor")
			if n, ok := b.PK("a"); !ok || n != 2 {
				t.Errorf("a: %d %v", n, ok)
			}
			b.PK("b")
			b.PK("c")
			b.PK("d")
			b.PK("e")
			b.PK("f")
			if n, ok := b.PK("g"); !ok || n != 3 {
				t.Errorf("g: %d %v", n, ok)
			}
		}, `{"patient":["Incorrect type. Expected pk value, received str."],"doctor":["Incorrect type. Expected pk value, received dict."],"b":["Invalid pk \"0\" - object does not exist."],"c":["Invalid pk \"99999999999999999999\" - object does not exist."],"d":["Incorrect type. Expected pk value, received float."],"e":["Incorrect type. Expected pk value, received bool."],"f":["Incorrect type. Expected pk value, received str."]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := parse(t, tc.body, tc.partial)
			if err != nil {
				t.Fatal(err)
			}
			tc.read(b)
			got, _ := json.Marshal(&b.Errors)
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// FuzzBody feeds arbitrary bytes through the decoder and every field reader: it must never panic,
// and whatever it rejects must be a well-formed 4xx error whose body marshals to JSON.
func FuzzBody(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `null`, `"x"`, `{"name": "a", "age": 3, "gender": "M", "patient": "1", "doctor": 2}`,
		`{"age": 1e309}`, `{"name": "\u0000"}`, `{"patient": {"a": [1, {}]}}`, `{"a":1}{"b":2}`, "{\"a\": \"\xff\"}",
		`{"age": "-0"}`, `{"age": 0.0000000001}`, `{"patient": -9223372036854775809}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := &Body{raw: map[string]json.RawMessage{}}
		if err := decodeObject(data, b); err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 {
				t.Fatalf("decode error is not a 4xx *Error: %v", err)
			}
			if _, jerr := json.Marshal(e.Body); jerr != nil {
				t.Fatalf("error body does not marshal: %v", jerr)
			}
			return
		}
		b.String("name", StringRule{MaxLength: 255})
		b.String("password", StringRule{NoTrim: true})
		b.Int("age", 0, 2147483647)
		b.Choice("gender", "M", "F", "O")
		b.PK("patient")
		b.PK("doctor")
		if _, err := json.Marshal(&b.Errors); err != nil {
			t.Fatalf("errors do not marshal: %v", err)
		}
	})
}
