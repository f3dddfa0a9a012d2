package store

import "time"

// Timestamp is a timestamptz that marshals the way DRF writes datetimes: RFC 3339 in UTC with
// exactly six fractional digits and a Z (2026-11-25T21:16:23.123456Z). PostgreSQL keeps
// microseconds, so nothing is lost. Time is a named field, not embedded: time.Time's own
// MarshalJSON would otherwise be promoted, and encoding/json re-scans whatever a MarshalJSON
// returns, where a MarshalText's text is only quoted.
type Timestamp struct{ Time time.Time }

// timestampLayout always prints six digits, even when they are zeros, as DRF does.
const timestampLayout = "2006-01-02T15:04:05.000000Z"

// MarshalText is the timestamp's text, which encoding/json writes as a JSON string.
func (t Timestamp) MarshalText() ([]byte, error) {
	return t.appendText(make([]byte, 0, len(timestampLayout))), nil
}

// appendText appends the text of timestampLayout digit by digit: every answer carries two
// timestamps per row, and AppendFormat, which reads its layout each time, cost 2 % of the
// server's CPU under GET one patient. Years outside 0–9999 take AppendFormat.
func (t Timestamp) appendText(b []byte) []byte {
	u := t.Time.UTC()
	year, month, day := u.Date()
	if year < 0 || year > 9999 {
		return u.AppendFormat(b, timestampLayout)
	}
	hour, minute, sec := u.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, u.Nanosecond()/1000, 6) // truncated, as AppendFormat does
	return append(b, 'Z')
}

// appendDigits appends v (>= 0) as exactly n decimal digits, zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	for range n {
		b = append(b, 0)
	}
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// UnmarshalText reads any RFC 3339 time (clients and tests decoding an answer).
func (t *Timestamp) UnmarshalText(b []byte) error { return t.Time.UnmarshalText(b) }

// UnmarshalJSON reads a JSON string as UnmarshalText does, and null as nothing (as time.Time does).
func (t *Timestamp) UnmarshalJSON(b []byte) error { return t.Time.UnmarshalJSON(b) }

// String is the same text.
func (t Timestamp) String() string {
	return string(t.appendText(make([]byte, 0, len(timestampLayout))))
}
