//go:build bundle_pg && unix

package database_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"healthcare/app/database"
)

// TestBundledPostgresRuns starts the PostgreSQL inside this test binary (not the installed one)
// and queries it.
func TestBundledPostgresRuns(t *testing.T) {
	if database.BundledVersion() == "" {
		t.Fatal("a bundle_pg build without PostgreSQL inside")
	}
	cfg := embeddedConfig(t.TempDir())
	cfg.Embedded.Binaries = "bundled"
	db, took := open(t, cfg)
	info := db.Info
	if info.BinariesSource != "bundled" || !strings.HasPrefix(info.BinDir, filepath.Join(cfg.DataDir, "pg-binaries", database.BundledVersion())) {
		t.Fatalf("runs %s from %s", info.BinariesSource, info.BinDir)
	}
	var v string
	if err := db.Pool.QueryRow(context.Background(), "SELECT current_setting('server_version')").Scan(&v); err != nil || !strings.HasPrefix(database.BundledVersion(), v) {
		t.Fatalf("server_version %q (%v), bundle %s", v, err, database.BundledVersion())
	}
	insertUser(t, db, "ana")
	t.Logf("PostgreSQL %s inside: first open (extract, initdb, start, migrate) took %s", v, took)
}
