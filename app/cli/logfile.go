package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"gopkg.in/natefinch/lumberjack.v2"

	"healthcare/app/config"
)

// openLogFile moves serve's log into log.file, when set: rotated at log.file_max_size_mb into
// timestamped files beside it, of which log.file_keep are kept. It runs after the privilege drop,
// so the files belong to the user the server runs as; what cannot be written is a configuration
// error now rather than a log that silently stays empty. The returned closer flushes and closes.
func openLogFile(cfg *config.Config, log *slog.Logger) (*slog.Logger, io.Closer, error) {
	if cfg.Log.File == "" {
		return log, io.NopCloser(nil), nil
	}
	dir := filepath.Dir(cfg.Log.File)
	fix := fmt.Sprintf("make it and its directory writable by user %s, or unset log.file", currentUserName())
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, configError(fmt.Errorf("cannot create the directory of log.file %s: %v; %s", cfg.Log.File, unwrapPath(err), fix))
	}
	// Rotation renames the file and creates a new one: the directory must be writable too.
	probe, err := os.CreateTemp(dir, ".healthcare-write-test-*")
	if err != nil {
		return nil, nil, configError(fmt.Errorf("cannot write into the directory of log.file %s: %v; %s", cfg.Log.File, unwrapPath(err), fix))
	}
	probe.Close()
	os.Remove(probe.Name())
	w := &lumberjack.Logger{Filename: cfg.Log.File, MaxSize: cfg.Log.FileMaxSizeMB, MaxBackups: cfg.Log.FileKeep}
	if _, err := w.Write(nil); err != nil { // opens (or creates, 0600) the file now
		return nil, nil, configError(fmt.Errorf("cannot write log.file %s: %v; %s", cfg.Log.File, err, fix))
	}
	log.Info("logging to log.file from now on", "file", cfg.Log.File)
	return newLogger(cfg, w), w, nil
}

func currentUserName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Geteuid())
}
