package database

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// PostgreSQL's log in the data directory: what the server prints before its logging collector runs
// (start-up failures) goes to postgres.log; the collector then writes postgres-<UTC time>.log
// files, starting a new one at every start and when the current one reaches the rotation size.
// PostgreSQL never removes old files: PruneLogs does, keeping a count.
const (
	// rotatedLogFilename is log_filename: a new name for every rotation (strftime, log_timezone).
	rotatedLogFilename = "postgres-%Y%m%d-%H%M%S.log"
	// RotatedLogGlob matches the rotated files, for messages and listings.
	RotatedLogGlob = "postgres-*.log"
	// DefaultLogRotationKB is the rotation size when none is configured.
	DefaultLogRotationKB = 10 * 1024
	// stderrLogLimit: a postgres.log larger than this at a start is moved to postgres.log.1 first.
	stderrLogLimit = 10 << 20
)

// rotatedLogName is exactly what rotatedLogFilename produces: nothing else is ever removed.
var rotatedLogName = regexp.MustCompile(`^postgres-[0-9]{8}-[0-9]{6}\.log$`)

// rotatedLogs lists the rotated log files in dataDir, newest first (by modification time, then
// name).
func rotatedLogs(dataDir string) ([]fs.FileInfo, error) {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return nil, err
	}
	var logs []fs.FileInfo
	for _, e := range entries {
		if !e.Type().IsRegular() || !rotatedLogName.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		logs = append(logs, info)
	}
	sort.Slice(logs, func(i, j int) bool {
		if !logs[i].ModTime().Equal(logs[j].ModTime()) {
			return logs[i].ModTime().After(logs[j].ModTime())
		}
		return logs[i].Name() > logs[j].Name()
	})
	return logs, nil
}

// PruneLogs removes the rotated PostgreSQL log files of dataDir beyond the newest keep+1 (the
// current file and keep older ones). Only files named as the logging collector names them are
// touched; postgres.log and anything else stay. It returns how many files it removed.
func PruneLogs(dataDir string, keep int) (int, error) {
	logs, err := rotatedLogs(dataDir)
	if err != nil {
		return 0, fmt.Errorf("cannot list PostgreSQL's logs in %s: %v", dataDir, unwrapPath(err))
	}
	removed := 0
	var errs []error
	for _, info := range logs[min(len(logs), max(keep, 0)+1):] {
		if err := os.Remove(filepath.Join(dataDir, info.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// newestLog is the PostgreSQL log file written last: postgres.log or the newest rotated file.
func newestLog(dataDir string) string {
	newest := filepath.Join(dataDir, logFileName)
	var at time.Time
	if st, err := os.Stat(newest); err == nil {
		at = st.ModTime()
	}
	if logs, err := rotatedLogs(dataDir); err == nil && len(logs) > 0 && !logs[0].ModTime().Before(at) {
		newest = filepath.Join(dataDir, logs[0].Name())
	}
	return newest
}

// capStderrLog keeps postgres.log (only start-up output, but one block per start) bounded: beyond
// stderrLogLimit it becomes postgres.log.1, replacing the previous one.
func capStderrLog(path string) error {
	st, err := os.Stat(path)
	if err != nil || st.Size() <= stderrLogLimit {
		return nil
	}
	if err := os.Rename(path, path+".1"); err != nil {
		return fmt.Errorf("cannot rotate %s: %v", path, unwrapPath(err))
	}
	return nil
}
