package database

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
)

var versionConst = map[int]embeddedpostgres.PostgresVersion{
	14: embeddedpostgres.V14,
	15: embeddedpostgres.V15,
	16: embeddedpostgres.V16,
	17: embeddedpostgres.V17,
	18: embeddedpostgres.V18,
}

// downloadBinaries fetches PostgreSQL major into downloadDir with embedded-postgres, the one thing
// the library is still used for. Its Start is the only entry point that downloads, and it also
// initialises and starts a cluster: that happens in a scratch directory of its own
// (<data_dir>/pg-download), never in the real cluster, and the scratch directory is removed after.
func downloadBinaries(ctx context.Context, major int, dataDir, downloadDir string) error {
	version, ok := versionConst[major]
	if !ok {
		return fmt.Errorf("embedded.download_version %d is not supported: use 14, 15, 16, 17 or 18", major)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	scratch := filepath.Join(dataDir, "pg-download")
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("cannot clean %s: %v", scratch, unwrapPath(err))
	}
	defer os.RemoveAll(scratch)
	port, err := freePort()
	if err != nil {
		return err
	}
	logf, err := os.CreateTemp(dataDir, ".pg-download-log-*")
	if err != nil {
		return err
	}
	defer os.Remove(logf.Name())
	defer logf.Close()
	// The library writes its own log into a new file in the system temp directory at every Start
	// and never removes it (/tmp/embedded_postgres_log*): remove it once Start and Stop are done.
	// One download at a time, so no other download's file is removed while in use.
	downloadMu.Lock()
	defer downloadMu.Unlock()
	defer removeLibraryLogs()
	pgConfig := embeddedpostgres.DefaultConfig()
	if binaryRepositoryURL != "" {
		pgConfig = pgConfig.BinaryRepositoryURL(binaryRepositoryURL)
	}
	ep := embeddedpostgres.NewDatabase(pgConfig.
		Version(version).
		Port(uint32(port)).
		Database("postgres").
		BinariesPath(downloadDir).
		DataPath(filepath.Join(scratch, "data")).
		RuntimePath(filepath.Join(scratch, "runtime")).
		CachePath(filepath.Join(dataDir, "pg-cache")).
		StartTimeout(2 * time.Minute).
		Logger(logf))
	if err := ep.Start(); err != nil {
		return fmt.Errorf("cannot download PostgreSQL %s: %v; install PostgreSQL %s yourself and set embedded.binaries_path, or check the network", strconv.Itoa(major), err, strconv.Itoa(major))
	}
	return ep.Stop()
}

var (
	downloadMu sync.Mutex
	// binaryRepositoryURL replaces the library's Maven repository (tests point it at a local server).
	binaryRepositoryURL string
)

// libraryLogPrefix names the files embedded-postgres creates with os.CreateTemp("", ...).
const libraryLogPrefix = "embedded_postgres_log"

// removeLibraryLogs removes the embedded-postgres log files this process holds open (the library
// keeps its descriptor and never closes it): exactly the library's files of this process, never
// another program's of the same name.
func removeLibraryLogs() {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil || !strings.HasPrefix(filepath.Base(target), libraryLogPrefix) {
			continue
		}
		if st, err := os.Stat(target); err == nil && st.Mode().IsRegular() {
			os.Remove(target)
		}
	}
}
