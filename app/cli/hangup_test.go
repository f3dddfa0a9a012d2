//go:build unix

package cli_test

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTerminalClosed: closing the terminal `healthcare serve | tee log` ran in sends SIGHUP and
// kills the pipe's reader. The server still stops in order, PostgreSQL included, and exits 0:
// neither the signal nor its log lines to a pipe nobody reads (SIGPIPE) end it half-way.
func TestTerminalClosed(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(tempDir(t), "data")
	port := freePort(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(baseEnv(), "HEALTHCARE_DATA_DIR="+dataDir, "HEALTHCARE_SERVER_ADDR=127.0.0.1:"+strconv.Itoa(port))
	cmd.Dir = tempDir(t)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close() // the child holds the only write end
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})

	// Read the log until the server is ready, as tee would.
	var out strings.Builder
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "ready: open") {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("healthcare serve ended before it was ready:\n%s", out.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatal("healthcare serve was not ready after 90 s")
	}
	if resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	family := postgresFamily(dataDir)
	if len(family) < 2 {
		t.Fatalf("expected a postmaster and its children, found %+v", family)
	}

	r.Close() // the terminal is gone: nobody reads the log any more
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("after SIGHUP with its output closed: %v (want exit 0)", waitErr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("healthcare did not exit within 60 s of SIGHUP")
	}
	checkGone(t, family, dataDir)
	if _, err := os.Stat(filepath.Join(dataDir, "postgres", "postmaster.pid")); err == nil {
		t.Error("postmaster.pid left behind: PostgreSQL did not shut down cleanly")
	}
}
