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
	return t.Time.UTC().AppendFormat(make([]byte, 0, len(timestampLayout)), timestampLayout), nil
}

// UnmarshalText reads any RFC 3339 time (clients and tests decoding an answer).
func (t *Timestamp) UnmarshalText(b []byte) error { return t.Time.UnmarshalText(b) }

// UnmarshalJSON reads a JSON string as UnmarshalText does, and null as nothing (as time.Time does).
func (t *Timestamp) UnmarshalJSON(b []byte) error { return t.Time.UnmarshalJSON(b) }

// String is the same text.
func (t Timestamp) String() string { return t.Time.UTC().Format(timestampLayout) }
