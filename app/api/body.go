package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"mime"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// DRF's messages, shared by every serializer.
const (
	msgRequired    = "This field is required."
	msgNull        = "This field may not be null."
	msgBlank       = "This field may not be blank."
	msgNotString   = "Not a valid string."
	msgNullChars   = "Null characters are not allowed."
	msgInteger     = "A valid integer is required."
	msgMaxLength   = "Ensure this field has no more than %d characters."
	msgMinValue    = "Ensure this value is greater than or equal to %d."
	msgMaxValue    = "Ensure this value is less than or equal to %d."
	msgChoice      = "\"%s\" is not a valid choice." // the input as is, in quotes (DRF does not escape it)
	msgPKType      = "Incorrect type. Expected pk value, received %s."
	msgPKNotExists = "Invalid pk \"%s\" - object does not exist."
)

// Body is a JSON object request body read field by field, the way a DRF serializer reads it:
// every failing field is collected into Errors, so one response reports them all. Keys the
// serializer does not read (id, managed_by, created_at, is_staff...) are ignored, never assigned.
type Body struct {
	raw     map[string]json.RawMessage
	partial bool // PATCH: absent fields are not required
	Errors  FieldErrors
}

// ParseBody reads the request body as an object of fields: JSON, or, as the original accepted
// them, an HTML form (application/x-www-form-urlencoded, as curl -d sends) or multipart/form-data,
// whose values are strings (the last one wins for a repeated key, as in Django's QueryDict). Another
// content type is 415, malformed JSON is 400 {"detail": "JSON parse error - ..."}, and a JSON body
// that is not an object (array, string, null) is DRF's non_field_errors 400. An empty body is an
// empty object, as in DRF.
func ParseBody(c *fiber.Ctx, partial bool) (*Body, error) {
	b := &Body{partial: partial, raw: map[string]json.RawMessage{}}
	data := c.Body()
	if len(bytes.TrimSpace(data)) == 0 {
		return b, nil
	}
	ct := c.Get(fiber.HeaderContentType)
	if ct == "" {
		return b, decodeObject(data, b)
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
	case mt == fiber.MIMEApplicationJSON || strings.HasSuffix(mt, "+json"):
		return b, decodeObject(data, b)
	case mt == fiber.MIMEApplicationForm:
		c.Request().PostArgs().VisitAll(func(k, v []byte) { b.setString(string(k), string(v)) })
		return b, nil
	case mt == fiber.MIMEMultipartForm:
		form, err := c.MultipartForm()
		if err != nil {
			return nil, Detail(fiber.StatusBadRequest, "Multipart form parse error - "+err.Error())
		}
		for k, vs := range form.Value {
			b.setString(k, vs[len(vs)-1])
		}
		return b, nil
	}
	return nil, Detail(fiber.StatusUnsupportedMediaType,
		fmt.Sprintf("Unsupported media type %q in request. Send JSON with Content-Type: application/json.", ct))
}

// setString sets a form field: form values are strings, read like JSON strings.
func (b *Body) setString(name, value string) {
	raw, _ := json.Marshal(value)
	b.raw[name] = raw
}

// decodeObject is the JSON part of ParseBody, separate so it can be fuzzed without HTTP.
func decodeObject(data []byte, b *Body) error {
	if !utf8.Valid(data) {
		return Detail(fiber.StatusBadRequest, "JSON parse error - request body is not valid UTF-8")
	}
	var top any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		return Detail(fiber.StatusBadRequest, "JSON parse error - "+err.Error())
	}
	if dec.More() {
		return Detail(fiber.StatusBadRequest, "JSON parse error - extra data after the JSON value")
	}
	if _, ok := top.(map[string]any); !ok {
		return FieldError("non_field_errors", fmt.Sprintf("Invalid data. Expected a dictionary, but got %s.", pyType(top)))
	}
	if err := json.Unmarshal(data, &b.raw); err != nil {
		return Detail(fiber.StatusBadRequest, "JSON parse error - "+err.Error())
	}
	return nil
}

// Has reports whether the client sent the field.
func (b *Body) Has(name string) bool { _, ok := b.raw[name]; return ok }

// Err returns the collected 400, or nil.
func (b *Body) Err() error { return b.Errors.Err() }

// value decodes one field; ok is false when it is absent (with "required" recorded unless PATCH)
// or null (with "may not be null" recorded).
func (b *Body) value(name string) (v any, ok bool) {
	raw, present := b.raw[name]
	if !present {
		if !b.partial {
			b.Errors.Add(name, msgRequired)
		}
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || v == nil {
		b.Errors.Add(name, msgNull)
		return nil, false
	}
	return v, true
}

// StringRule describes a DRF CharField.
type StringRule struct {
	MaxLength int  // in characters; 0 means unlimited
	NoTrim    bool // passwords keep their surrounding spaces
}

// String reads a CharField: numbers are accepted as their text (as DRF does), other types are
// "Not a valid string.", surrounding whitespace is trimmed unless NoTrim, blank and NUL characters
// are refused. ok is false when the field is absent or invalid.
func (b *Body) String(name string, rule StringRule) (string, bool) {
	v, ok := b.value(name)
	if !ok {
		return "", false
	}
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case json.Number:
		s = t.String()
	default:
		b.Errors.Add(name, msgNotString)
		return "", false
	}
	if strings.ContainsRune(s, 0) {
		b.Errors.Add(name, msgNullChars)
		return "", false
	}
	if !rule.NoTrim {
		s = strings.TrimSpace(s)
	}
	if s == "" {
		b.Errors.Add(name, msgBlank)
		return "", false
	}
	if rule.MaxLength > 0 && utf8.RuneCountInString(s) > rule.MaxLength {
		b.Errors.Add(name, fmt.Sprintf(msgMaxLength, rule.MaxLength))
		return "", false
	}
	return s, true
}

// Int reads an IntegerField within [min, max] the way DRF does: JSON integers, integral JSON
// numbers below 1e16 (35.0; Python prints larger floats in exponent form, which int() refuses) and
// strings of digits with an optional sign and ".0" ("35", " -3 ", "35.00") are accepted.
func (b *Body) Int(name string, min, max int64) (int64, bool) {
	v, ok := b.value(name)
	if !ok {
		return 0, false
	}
	var n *big.Int
	switch t := v.(type) {
	case json.Number:
		n, ok = jsonInteger(t)
	case string:
		n, ok = stringInteger(t, true)
	default:
		ok = false
	}
	if !ok {
		b.Errors.Add(name, msgInteger)
		return 0, false
	}
	if n.Cmp(big.NewInt(min)) < 0 {
		b.Errors.Add(name, fmt.Sprintf(msgMinValue, min))
		return 0, false
	}
	if n.Cmp(big.NewInt(max)) > 0 {
		b.Errors.Add(name, fmt.Sprintf(msgMaxValue, max))
		return 0, false
	}
	return n.Int64(), true
}

// Choice reads a ChoiceField whose value must be one of choices.
func (b *Body) Choice(name string, choices ...string) (string, bool) {
	v, ok := b.value(name)
	if !ok {
		return "", false
	}
	s, isStr := v.(string)
	if num, isNum := v.(json.Number); isNum {
		s, isStr = num.String(), true
	}
	for _, c := range choices {
		if isStr && s == c {
			return s, true
		}
	}
	shown := s
	if !isStr {
		raw, _ := json.Marshal(v)
		shown = string(raw)
	}
	b.Errors.Add(name, fmt.Sprintf(msgChoice, shown))
	return "", false
}

// PK reads a PrimaryKeyRelatedField: an integer (or integral number) or a string of digits, as
// Django's int() takes it. It returns the id to look up; ids that cannot exist (0, negative,
// beyond int64) are recorded as "object does not exist" here, so the caller only reports the ones
// its query does not find (with PKNotFound).
func (b *Body) PK(name string) (int64, bool) {
	v, ok := b.value(name)
	if !ok {
		return 0, false
	}
	var n *big.Int
	var text string
	switch t := v.(type) {
	case json.Number:
		text = t.String()
		if n, ok = jsonInteger(t); !ok {
			b.Errors.Add(name, fmt.Sprintf(msgPKType, "float"))
			return 0, false
		}
	case string:
		text = strings.TrimSpace(t)
		if n, ok = stringInteger(t, false); !ok {
			b.Errors.Add(name, fmt.Sprintf(msgPKType, "str"))
			return 0, false
		}
	default:
		b.Errors.Add(name, fmt.Sprintf(msgPKType, pyType(v)))
		return 0, false
	}
	if n.Sign() <= 0 || !n.IsInt64() {
		b.PKNotFound(name, text)
		return 0, false
	}
	return n.Int64(), true
}

// PKNotFound records DRF's "Invalid pk" message for an id that matches no row the caller may use.
func (b *Body) PKNotFound(name, id string) {
	b.Errors.Add(name, fmt.Sprintf(msgPKNotExists, id))
}

var (
	digits      = regexp.MustCompile(`^-?[0-9]+$`)
	intText     = regexp.MustCompile(`^\s*[+-]?[0-9]+\s*$`)
	intZeroText = regexp.MustCompile(`^\s*[+-]?[0-9]+(\.0*)?\s*$`)
)

// jsonInteger accepts integer literals of any size and integral floats below 1e16.
func jsonInteger(n json.Number) (*big.Int, bool) {
	s := n.String()
	if digits.MatchString(s) {
		if len(s) > 1000 {
			return nil, false
		}
		return new(big.Int).SetString(s, 10)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) >= 1e16 {
		return nil, false
	}
	return big.NewInt(int64(f)), true
}

// stringInteger accepts digits with an optional sign and surrounding spaces, and with zeroDecimal
// a trailing ".0…" (DRF strips it before int()).
func stringInteger(s string, zeroDecimal bool) (*big.Int, bool) {
	re := intText
	if zeroDecimal {
		re = intZeroText
	}
	if len(s) > 1000 || !re.MatchString(s) {
		return nil, false
	}
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	return new(big.Int).SetString(strings.TrimPrefix(s, "+"), 10)
}

// pyType names a decoded JSON value the way DRF's messages do (Python type names).
func pyType(v any) string {
	switch t := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case string:
		return "str"
	case json.Number:
		if _, err := strconv.ParseInt(t.String(), 10, 64); err == nil {
			return "int"
		}
		return "float"
	case float64:
		if t == math.Trunc(t) {
			return "int"
		}
		return "float"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// msgBool is DRF's BooleanField message.
const msgBool = "Must be a valid boolean."

// Bool reads a BooleanField the way DRF does: true/false, 1/0 and their usual spellings as strings
// ("true", "False", "yes", "off", "1"...), as HTML forms send them.
func (b *Body) Bool(name string) (bool, bool) {
	v, ok := b.value(name)
	if !ok {
		return false, false
	}
	switch t := v.(type) {
	case bool:
		return t, true
	case json.Number:
		switch t.String() {
		case "1":
			return true, true
		case "0":
			return false, true
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true", "t", "yes", "y", "on", "1":
			return true, true
		case "false", "f", "no", "n", "off", "0":
			return false, true
		}
	}
	b.Errors.Add(name, msgBool)
	return false, false
}

// Keys returns the names of the body's fields, sorted.
func (b *Body) Keys() []string {
	keys := make([]string, 0, len(b.raw))
	for k := range b.raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
