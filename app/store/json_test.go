package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"healthcare/app/store"
)

// FuzzPatientJSON holds Patient.AppendJSON to encoding/json's bytes, which the API wrote before:
// every escape (HTML characters, control characters, bytes that are not UTF-8, U+2028/U+2029),
// the fields' order and the timestamps' quoting (their text is FuzzTimestampText's).
func FuzzPatientJSON(f *testing.F) {
	f.Add(int64(1), "alice", "Ada Lovelace", int64(36), "F", "1 Main St", "+1 555", int64(1764537383), int64(123456))
	f.Add(int64(-1), "<b>&amp;</b>", "\"quoted\" \\ back", int64(-5), "\b\f\n\r\t\x00\x1f\x7f", "\xff\xfe bad \xe2\x80", "\u2028\u2029 sep", int64(-62135596801), int64(0))
	f.Add(int64(1<<62), "é漢字🙂", "a\u00a0b", int64(0), "", "x\xc0\x80y", "\xed\xa0\x80", int64(253402300800), int64(999999999))
	f.Fuzz(func(t *testing.T, id int64, managedBy, name string, age int64, gender, address, phone string, sec, nsec int64) {
		p := store.Patient{ID: id, ManagedBy: managedBy, Name: name, Age: age, Gender: gender, Address: address,
			PhoneNumber: phone, CreatedAt: store.Timestamp{Time: time.Unix(sec, nsec%1_000_000_000)},
			UpdatedAt: store.Timestamp{Time: time.Unix(sec/2, nsec%1_000_000)}}
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.AppendJSON([]byte("prefix")); string(got) != "prefix"+string(want) {
			t.Fatalf("AppendJSON\n got %q\nwant %q", got[len("prefix"):], want)
		}
	})
}
