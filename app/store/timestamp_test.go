package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"healthcare/app/store"
)

// TestTimestampJSON: a timestamp is written as DRF writes it (UTC, six fractional digits, Z), as a
// field, in a slice and behind a pointer, and reads back as the same instant.
func TestTimestampJSON(t *testing.T) {
	east := time.FixedZone("east", 5*3600+30*60)
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 25, 21, 16, 23, 123456000, time.UTC), `"2026-11-25T21:16:23.123456Z"`},
		{time.Date(2026, 11, 25, 21, 16, 23, 0, time.UTC), `"2026-11-25T21:16:23.000000Z"`},
		{time.Date(2026, 11, 26, 2, 46, 23, 500000000, east), `"2026-11-25T21:16:23.500000Z"`},
	} {
		ts := store.Timestamp{Time: tc.at}
		for _, v := range []any{ts, &ts, []store.Timestamp{ts}, struct {
			At store.Timestamp `json:"at"`
		}{ts}} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			switch v.(type) {
			case []store.Timestamp:
				got = got[1 : len(got)-1]
			case struct {
				At store.Timestamp `json:"at"`
			}:
				got = got[len(`{"at":`) : len(got)-1]
			}
			if got != tc.want {
				t.Errorf("%T of %v: %s, want %s", v, tc.at, b, tc.want)
			}
		}
		var back store.Timestamp
		if err := json.Unmarshal([]byte(tc.want), &back); err != nil || !back.Time.Equal(tc.at) {
			t.Errorf("%s read back as %v (%v), want %v", tc.want, back.Time, err, tc.at)
		}
	}
	var none struct{ At store.Timestamp }
	if err := json.Unmarshal([]byte(`{"At": null}`), &none); err != nil || !none.At.Time.IsZero() {
		t.Errorf("null read as %v (%v), want the zero time", none.At.Time, err)
	}
}

// FuzzTimestampText: the digit-by-digit text is AppendFormat's with the layout, for any instant.
func FuzzTimestampText(f *testing.F) {
	for _, s := range []int64{0, 1764537383, -62135596800, 253402300799, 253402300800, -62135596801, 1 << 40, -1 << 40} {
		f.Add(s, int64(123456789))
	}
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		at := time.Unix(sec, nsec%1_000_000_000)
		want := at.UTC().Format("2006-01-02T15:04:05.000000Z")
		got, err := store.Timestamp{Time: at}.MarshalText()
		if err != nil || string(got) != want {
			t.Fatalf("%v: MarshalText %q, %v; AppendFormat %q", at, got, err, want)
		}
		if s := (store.Timestamp{Time: at}).String(); s != want {
			t.Fatalf("%v: String %q, want %q", at, s, want)
		}
	})
}
