package store

import "time"

// Timestamp is a timestamptz that marshals the way DRF writes datetimes: RFC 3339 in UTC with
// exactly six fractional digits and a Z (2026-11-25T21:16:23.123456Z). PostgreSQL keeps
// microseconds, so nothing is lost.
type Timestamp struct{ time.Time }

// timestampLayout always prints six digits, even when they are zeros, as DRF does.
const timestampLayout = "2006-01-02T15:04:05.000000Z"

// MarshalJSON writes the timestamp as a JSON string.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timestampLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timestampLayout)
	return append(b, '"'), nil
}

// String is the same text without quotes.
func (t Timestamp) String() string { return t.UTC().Format(timestampLayout) }
