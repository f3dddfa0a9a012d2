package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkResources measures the hot routes over real HTTP on loopback against the test
// PostgreSQL, with 1 user, 20 doctors, 200 patients and 3 assignments each:
//
//	go test -run '^$' -bench BenchmarkResources -benchtime 3s ./app/api/
//
// ns/op is one request's latency from a single client (req/s = 1e9 / ns/op); the parallel
// variants run GOMAXPROCS×4 clients and report throughput as req/s. p50/p99 are per-request
// latencies in microseconds. x_healthz is the mean latency as a multiple of GET /healthz (no
// authentication, no query) measured in the same process just before: a ratio that stays
// comparable across noisy machines. The test database runs with fsync off, which flatters writes.
func BenchmarkResources(b *testing.B) {
	f := newResFixture(b, "alice")
	for i := 0; i < 20; i++ {
		f.create(b, "/api/doctors/", "alice", fmt.Sprintf(`{"name": "Doctor %d", "specialization": "Spec %d", "contact_info": "doc%d@x"}`, i, i%5, i))
	}
	var patients []int64
	for i := 0; i < 200; i++ {
		p := f.create(b, "/api/patients/", "alice", fmt.Sprintf(
			`{"name": "Patient %d", "age": %d, "gender": "F", "address": "%d Elm St", "phone_number": "555-%04d"}`, i, i%90, i, i))
		patients = append(patients, p)
		for j := 0; j < 3; j++ {
			f.create(b, "/api/mappings/", "alice", fmt.Sprintf(`{"patient": %d, "doctor": %d}`, p, (i+j*7)%20+1))
		}
	}
	token := f.tokens["alice"]
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var phone atomic.Int64
	send := func(b *testing.B, method, path string, body []byte, want int) {
		req, _ := http.NewRequest(method, f.env.URL+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
	}
	routes := []struct {
		name string
		do   func(b *testing.B, i int)
	}{
		{"GetPatient", func(b *testing.B, i int) {
			send(b, "GET", fmt.Sprintf("/api/patients/%d/", patients[i%len(patients)]), nil, 200)
		}},
		{"ListDoctors", func(b *testing.B, i int) { send(b, "GET", "/api/doctors/", nil, 200) }},
		{"PatientDoctors", func(b *testing.B, i int) {
			send(b, "GET", fmt.Sprintf("/api/patients/%d/doctors/", patients[i%len(patients)]), nil, 200)
		}},
		{"CreatePatient", func(b *testing.B, i int) {
			body := fmt.Sprintf(`{"name": "Bench", "age": 40, "gender": "M", "address": "1 Bench Rd", "phone_number": "b%d"}`, phone.Add(1))
			send(b, "POST", "/api/patients/", []byte(body), 201)
		}},
	}
	// The baseline: the same client and server, no authentication and no database.
	const baseN = 2000
	baseStart := time.Now()
	for i := 0; i < baseN; i++ {
		req, _ := http.NewRequest("GET", f.env.URL+"/healthz", nil)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	base := time.Since(baseStart) / baseN
	for _, r := range routes {
		b.Run(r.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				r.do(b, i)
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			reportLatency(b, lat, base)
		})
		b.Run(r.name+"Parallel", func(b *testing.B) {
			b.SetParallelism(4)
			var n atomic.Int64
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r.do(b, int(n.Add(1)))
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// reportLatency adds p50 and p99 (µs), the single-client req/s and the mean latency as a multiple
// of the baseline to the benchmark's output.
func reportLatency(b *testing.B, lat []time.Duration, base time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) }
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(lat))/sum.Seconds(), "req/s")
	b.ReportMetric(float64(sum)/float64(len(lat))/float64(base), "x_healthz")
}
