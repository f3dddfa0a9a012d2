//go:build unix

package cli

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"healthcare/app/config"
)

// TestLogFileRotates: log.file receives the log as JSON, is rotated at log.file_max_size_mb and
// keeps log.file_keep rotated files; an unusable path is a configuration error (issue 16, item 10).
func TestLogFileRotates(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "logs") // created on demand
	cfg := &config.Config{Log: config.Log{Format: "auto", Level: "info", File: filepath.Join(dir, "healthcare.log"), FileMaxSizeMB: 1, FileKeep: 2}}
	var notice strings.Builder
	log, closer, err := openLogFile(cfg, slog.New(slog.NewTextHandler(&notice, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice.String(), "logging to log.file from now on") || !strings.Contains(notice.String(), cfg.Log.File) {
		t.Errorf("no notice on the previous log: %q", notice.String())
	}
	filler := strings.Repeat("x", 1000)
	for range 4000 { // about 4 MB: four rotations
		log.Info("filler", "text", filler)
	}
	log.Info("the last line")
	countFiles := func() int {
		entries, _ := os.ReadDir(dir)
		return len(entries)
	}
	for deadline := time.Now().Add(10 * time.Second); countFiles() > 3 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("%d files in %s, want the current one and 2 rotated", len(entries), dir)
	}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Size() > 1<<20+2000 || info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %d bytes, mode %04o", e.Name(), info.Size(), info.Mode().Perm())
		}
	}
	b, err := os.ReadFile(cfg.Log.File)
	if err != nil || !strings.Contains(string(b), `"msg":"the last line"`) {
		t.Errorf("the current file lacks the last line as JSON (%v)", err)
	}

	bad := *cfg
	bad.Log.File = "/dev/null/healthcare.log"
	_, _, err = openLogFile(&bad, slog.New(slog.DiscardHandler))
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitConfig || !strings.Contains(err.Error(), "log.file /dev/null/healthcare.log") ||
		!strings.Contains(err.Error(), "writable by user") {
		t.Errorf("unusable log.file: %v", err)
	}

	none := *cfg
	none.Log.File = ""
	keep := slog.New(slog.NewTextHandler(io.Discard, nil))
	if l, c, err := openLogFile(&none, keep); err != nil || l != keep || c.Close() != nil {
		t.Errorf("without log.file: %v %v", l, err)
	}
}
