package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// npmTarball writes a package shaped like @embedded-postgres/<platform>.
func npmTarball(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mode := int64(0o644)
		if strings.Contains(n, "/bin/") {
			mode = 0o755
		}
		tw.WriteHeader(&tar.Header{Name: "package/" + n, Mode: mode, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[n]))
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(t.TempDir(), "pkg.tgz")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

// TestBuildPayload: native/ becomes the installation root, pg-symlinks.json becomes symlinks, what
// only serves building against PostgreSQL is left out, and the same input gives the same bytes.
func TestBuildPayload(t *testing.T) {
	tgz := npmTarball(t, map[string]string{
		"LICENSE.md":                        "MIT License",
		"package.json":                      "{}",
		"native/bin/postgres":               "elf",
		"native/bin/initdb":                 "elf",
		"native/bin/pg_ctl":                 "elf",
		"native/lib/libpq.so.5.17":          "so",
		"native/lib/libpq.a":                "static",
		"native/lib/pkgconfig/libpq.pc":     "pc",
		"native/include/libpq-fe.h":         "h",
		"native/share/postgresql/x.bki":     "bki",
		"native/share/locale/de/x.mo":       "mo",
		"native/pg-symlinks.json":           `[{"source":"native/lib/libpq.so.5.17","target":"native/lib/libpq.so.5"}]`,
		"native/bin/wxbase3210u_vc_x64.dll": "gui",
	})
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	payload, meta, license, err := buildPayload(tgz, mtime)
	if err != nil {
		t.Fatal(err)
	}
	if string(license) != "MIT License" || meta.Files != 5 || meta.SHA256 == "" {
		t.Fatalf("license %q, meta %+v", license, meta)
	}
	again, _, _, _ := buildPayload(tgz, mtime)
	if !bytes.Equal(again, payload) {
		t.Fatal("the payload is not reproducible")
	}
	zr, _ := zstd.NewReader(bytes.NewReader(payload))
	defer zr.Close()
	tr := tar.NewReader(zr)
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(mtime) {
			t.Errorf("%s dated %s", h.Name, h.ModTime)
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			got[h.Name] = "-> " + h.Linkname
		case tar.TypeDir:
			got[h.Name] = "dir"
		default:
			got[h.Name] = h.FileInfo().Mode().Perm().String()
		}
	}
	want := map[string]string{
		"bin/": "dir", "lib/": "dir", "share/": "dir", "share/postgresql/": "dir",
		"bin/initdb": "-rwxr-xr-x", "bin/pg_ctl": "-rwxr-xr-x", "bin/postgres": "-rwxr-xr-x",
		"lib/libpq.so.5.17": "-rw-r--r--", "lib/libpq.so.5": "-> libpq.so.5.17",
		"share/postgresql/x.bki": "-rw-r--r--",
	}
	if len(got) != len(want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}

// TestArchivesReproducible: the same files give the same archive bytes.
func TestArchivesReproducible(t *testing.T) {
	dir := t.TempDir()
	files := []archiveFile{{Name: "healthcare", Data: []byte("bin"), Mode: 0o755}, {Name: "README.md", Data: []byte("# x"), Mode: 0o644}}
	mtime := time.Unix(1700000000, 0)
	for _, kind := range []string{"a.tar.gz", "b.tar.gz", "a.zip", "b.zip"} {
		var err error
		if strings.HasSuffix(kind, ".zip") {
			err = writeZip(filepath.Join(dir, kind), "healthcare_1_windows_amd64", files, mtime)
		} else {
			err = writeTarGz(filepath.Join(dir, kind), "healthcare_1_linux_amd64", files, mtime)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, pair := range [][2]string{{"a.tar.gz", "b.tar.gz"}, {"a.zip", "b.zip"}} {
		a, _ := os.ReadFile(filepath.Join(dir, pair[0]))
		b, _ := os.ReadFile(filepath.Join(dir, pair[1]))
		if !bytes.Equal(a, b) {
			t.Errorf("%s and %s differ", pair[0], pair[1])
		}
	}
	if err := writeSums(dir, []string{filepath.Join(dir, "a.zip"), filepath.Join(dir, "a.tar.gz")}); err != nil {
		t.Fatal(err)
	}
	sums, _ := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "  a.tar.gz") || len(strings.Fields(lines[0])[0]) != 64 {
		t.Fatalf("SHA256SUMS:\n%s", sums)
	}
}

// TestVersionFromLdflags: a binary built with the release's ldflags says its version, commit and
// build date.
func TestVersionFromLdflags(t *testing.T) {
	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	i := info{Version: "9.8.7", Commit: "0123456789abcdef0123456789abcdef01234567", Date: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	bin := filepath.Join(t.TempDir(), "healthcare")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command("go", "build", "-ldflags", i.ldflags(), "-o", bin, ".")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"healthcare 9.8.7\n", "commit 0123456789abcdef0123456789abcdef01234567\n", "built 2026-11-30T12:00:00Z\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

func TestPruned(t *testing.T) {
	for name, want := range map[string]bool{
		"bin/postgres": false, "lib/postgresql/plpgsql.so": false, "share/postgresql/timezone/UTC": false,
		"lib/libpq.a": true, "lib/libpq.lib": true, "include/pg_config.h": true, "lib/pkgconfig/libpq.pc": true,
		"share/locale/de/LC_MESSAGES/postgres-17.mo": true, "bin/wxmsw3210u_core_vc_x64_custom.dll": true,
		"bin/libxml2.dll": false,
	} {
		if pruned(name) != want {
			t.Errorf("pruned(%s) = %v", name, !want)
		}
	}
}
