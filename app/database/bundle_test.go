//go:build unix

package database_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"healthcare/app/database"
)

// tarEntry is one entry of a synthetic PostgreSQL bundle.
type tarEntry struct {
	name, body, link string
	mode             int64
}

// fakePostgres is a bin/ that answers --version like PostgreSQL 17 and nothing else.
var fakePostgres = []tarEntry{
	{name: "bin/postgres", body: "#!/bin/sh\necho 'postgres (PostgreSQL) 17.10'\n", mode: 0o755},
	{name: "bin/initdb", body: "#!/bin/sh\nexit 1\n", mode: 0o755},
	{name: "bin/pg_ctl", body: "#!/bin/sh\nexit 1\n", mode: 0o755},
	{name: "lib/libpq.so.5.17", body: "not really a library", mode: 0o644},
	{name: "lib/libpq.so.5", link: "libpq.so.5.17"},
	{name: "share/postgresql/postgres.bki", body: "catalog", mode: 0o644},
}

// makeBundle builds a payload the way go run ./release does and its metadata.
func makeBundle(t *testing.T, entries []tarEntry) (meta, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	files := 0
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if e.link != "" {
			h = &tar.Header{Name: e.name, Mode: 0o777, Typeflag: tar.TypeSymlink, Linkname: e.link}
		} else {
			files++
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	sum := sha256.Sum256(buf.Bytes())
	meta, _ = json.Marshal(map[string]any{"version": "17.10.0", "package": "@embedded-postgres/test@17.10.0-beta.1",
		"sha256": hex.EncodeToString(sum[:]), "files": files})
	return meta, buf.Bytes()
}

func TestBundledExtractsOnceAndChecks(t *testing.T) {
	meta, data := makeBundle(t, fakePostgres)
	defer database.SetBundle(meta, data)()
	ctx := context.Background()
	dataDir := t.TempDir()
	dest := filepath.Join(dataDir, "pg-binaries", "17.10.0")

	binDir, source, version, err := database.ExtractBundled(ctx, dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if binDir != filepath.Join(dest, "bin") || source != "bundled" || version != "17.10" {
		t.Fatalf("got %s %s %s", binDir, source, version)
	}
	if link, err := os.Readlink(filepath.Join(dest, "lib", "libpq.so.5")); err != nil || link != "libpq.so.5.17" {
		t.Fatalf("library symlink: %q %v", link, err)
	}
	if st, _ := os.Stat(filepath.Join(dest, "bin", "postgres")); st == nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("bin/postgres mode: %v", st)
	}
	marker, _ := os.ReadFile(filepath.Join(dest, ".healthcare-bundle"))
	if sum := sha256.Sum256(data); strings.TrimSpace(string(marker)) != hex.EncodeToString(sum[:]) {
		t.Fatalf("marker %q", marker)
	}

	t.Run("second start reuses the tree", func(t *testing.T) {
		probe := filepath.Join(dest, "share", "postgresql", "mine")
		os.WriteFile(probe, nil, 0o600)
		if _, _, _, err := database.ExtractBundled(ctx, dataDir, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(probe); err != nil {
			t.Fatal("the extracted tree was replaced although it was complete")
		}
	})

	t.Run("a tree without the right marker is replaced", func(t *testing.T) {
		os.WriteFile(filepath.Join(dest, ".healthcare-bundle"), []byte("other build\n"), 0o644)
		os.Remove(filepath.Join(dest, "bin", "initdb"))
		os.MkdirAll(filepath.Join(dataDir, "pg-binaries", ".17.10.0.extract-123"), 0o700) // a crash's leftover
		if _, _, _, err := database.ExtractBundled(ctx, dataDir, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dest, "bin", "initdb")); err != nil {
			t.Fatal("not extracted again")
		}
		entries, _ := os.ReadDir(filepath.Join(dataDir, "pg-binaries"))
		if len(entries) != 1 || entries[0].Name() != "17.10.0" {
			t.Fatalf("pg-binaries holds %v", entries)
		}
	})
}

func TestBundledRefusesDamage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		entries []tarEntry
		damage  func(meta, data []byte) ([]byte, []byte)
		want    string
	}{
		{name: "payload changed", entries: fakePostgres, damage: func(m, d []byte) ([]byte, []byte) {
			d = bytes.Clone(d)
			d[len(d)/2] ^= 0xff
			return m, d
		}, want: "is damaged"},
		{name: "name leaving the directory", entries: append([]tarEntry{{name: "../escape", body: "x", mode: 0o644}}, fakePostgres...), want: "bad name"},
		{name: "absolute symlink", entries: append([]tarEntry{{name: "lib/evil", link: "/etc/passwd"}}, fakePostgres...), want: "leaves its directory"},
		{name: "symlink up", entries: append([]tarEntry{{name: "lib/evil", link: "../../postgres"}}, fakePostgres...), want: "leaves its directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta, data := makeBundle(t, tc.entries)
			if tc.damage != nil {
				meta, data = tc.damage(meta, data)
			}
			defer database.SetBundle(meta, data)()
			dataDir := t.TempDir()
			_, _, _, err := database.ExtractBundled(ctx, dataDir, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if _, err := os.Lstat(filepath.Join(dataDir, "escape")); err == nil {
				t.Fatal("a file was written outside the tree")
			}
			entries, _ := os.ReadDir(filepath.Join(dataDir, "pg-binaries"))
			if len(entries) != 0 {
				t.Fatalf("pg-binaries holds %v after a refused extraction", entries)
			}
		})
	}
}

// TestBundledChoice: embedded.binaries "bundled" without PostgreSQL inside says what to do, and
// a cluster of another major version is refused before anything is extracted or changed.
func TestBundledChoice(t *testing.T) {
	ctx := context.Background()
	t.Run("none inside", func(t *testing.T) {
		defer database.SetBundle(nil, nil)()
		cfg := embeddedConfig(t.TempDir())
		cfg.Embedded.Binaries = "bundled"
		_, err := database.Open(ctx, cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "carries no PostgreSQL") || !strings.Contains(err.Error(), "bundle_pg") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("cluster of another major", func(t *testing.T) {
		meta, data := makeBundle(t, fakePostgres)
		defer database.SetBundle(meta, data)()
		cfg := embeddedConfig(t.TempDir())
		cfg.Embedded.Binaries = "bundled"
		cluster := filepath.Join(cfg.DataDir, "postgres")
		os.MkdirAll(cluster, 0o700)
		os.WriteFile(filepath.Join(cluster, "PG_VERSION"), []byte("15\n"), 0o600)
		os.WriteFile(filepath.Join(cluster, "base"), []byte("data"), 0o600)
		before := snapshot(t, cfg.DataDir)
		_, err := database.Open(ctx, cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "created by PostgreSQL 15") || !strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("got %v", err)
		}
		if after := snapshot(t, cfg.DataDir); after != before {
			t.Fatalf("changed:\n%s\nwas:\n%s", after, before)
		}
	})
	t.Run("auto prefers the installed server", func(t *testing.T) {
		meta, data := makeBundle(t, fakePostgres)
		defer database.SetBundle(meta, data)()
		cfg := embeddedConfig(t.TempDir())
		cfg.Embedded.Binaries = "auto"
		db, _ := open(t, cfg)
		if db.Info.BinariesSource == "bundled" {
			t.Fatal("auto used the bundle although a server is installed")
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "pg-binaries")); err == nil {
			t.Fatal("auto extracted the bundle it did not use")
		}
	})
}
