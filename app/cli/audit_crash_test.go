//go:build unix

package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAuditReadsSurviveACrash: reads are recorded asynchronously (README: a crash loses at most the
// reads answered during the last batch write, 4,096 + 512 records). SIGKILL under read load: the
// reads recorded afterwards fall short of the reads answered by no more than that, every change
// is there, and the hash chain still verifies.
func TestAuditReadsSurviveACrash(t *testing.T) {
	t.Parallel()
	dataDir := tempDir(t) + "/data"
	o := opts{DataDir: dataDir, Env: []string{"HEALTHCARE_RATE_LIMIT_ENABLED=false"}}
	p, _ := serve(t, o)
	register(t, p, "reader")
	token := login(t, p, "reader")
	status, _, body := p.request("POST", "/api/patients/", map[string]any{"name": "Crash Test", "age": 40, "gender": "F", "address": "x", "phone_number": "+15550001"}, "Authorization", "Bearer "+token)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	var pat struct{ ID int64 }
	json.Unmarshal(body, &pat)

	var answered atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if st, _, _ := p.requestQuiet("GET", fmt.Sprintf("/api/patients/%d/", pat.ID), nil, "Authorization", "Bearer "+token); st == 200 {
					answered.Add(1)
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	p.cmd.Process.Kill()
	<-p.done
	close(stop)
	wg.Wait()

	p, _ = serve(t, o)
	var reads, creates int64
	conn := embeddedConn(t, dataDir, "healthcare")
	conn.QueryRow(context.Background(), "SELECT count(*) FILTER (WHERE action = 'read'), count(*) FILTER (WHERE action = 'create') FROM audit_log").Scan(&reads, &creates)
	lost := answered.Load() - reads
	t.Logf("%d reads answered, %d recorded, %d lost to the SIGKILL", answered.Load(), reads, lost)
	if answered.Load() < 100 {
		t.Fatalf("only %d reads: the test did not exercise anything", answered.Load())
	}
	if lost > 4096+512 {
		t.Errorf("%d reads lost, more than the documented 4,608", lost)
	}
	if creates < 1 {
		t.Error("the patient's creation is not in the audit trail")
	}
	stopAndCheck(t, p)
	if code, out := run(t, opts{DataDir: dataDir}, "audit", "verify"); code != 0 {
		t.Errorf("audit verify after the crash: exit %d\n%s", code, out)
	}
}
