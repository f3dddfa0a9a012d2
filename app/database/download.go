package database

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	ep := embeddedpostgres.NewDatabase(embeddedpostgres.DefaultConfig().
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
