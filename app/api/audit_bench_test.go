package api_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"healthcare/app/api/apitest"
	"healthcare/app/config"
)

// BenchmarkAuditGetPatient measures GET one patient with read auditing on and off, GOMAXPROCS×4
// clients over loopback, and reports req/s of each (issue 11: on keeps ≥ 80 % of off):
//
//	go test -run '^$' -bench BenchmarkAuditGetPatient -benchtime 5s ./app/api/
func BenchmarkAuditGetPatient(b *testing.B) {
	for _, reads := range []bool{false, true} {
		b.Run(fmt.Sprintf("reads=%v", reads), func(b *testing.B) {
			e := apitest.New(b, func(c *config.Config) { c.Audit.Reads = reads })
			e.Register(b, "alice")
			tok, _ := e.Login("alice")
			r := e.Post("/api/patients/", tok, map[string]any{"name": "P", "age": 3, "gender": "F", "address": "R", "phone_number": "555-1"})
			var p struct{ ID int64 }
			r.Decode(b, &p)
			url := fmt.Sprintf("%s/api/patients/%d/", e.URL, p.ID)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.SetParallelism(4)
			b.ResetTimer()
			begin := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", url, nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "req/s")
			b.StopTimer()
			e.Audit.Flush()
		})
	}
}
