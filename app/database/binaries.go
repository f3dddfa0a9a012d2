package database

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// binaries is one PostgreSQL installation: a bin/ directory holding postgres, pg_ctl and initdb.
type binaries struct {
	BinDir  string // .../bin
	Source  string // how it was found, see Info.BinariesSource
	Major   int    // 15
	Version string // 15.18
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?`)

// probe runs `postgres --version` in binDir; it fails when the directory is not a usable
// installation for embedded-postgres (which needs <parent>/bin/{pg_ctl,initdb,postgres}).
func probe(ctx context.Context, binDir, source string) (binaries, error) {
	b := binaries{BinDir: binDir, Source: source}
	if filepath.Base(binDir) != "bin" {
		return b, fmt.Errorf("%s is not a bin directory", binDir)
	}
	for _, name := range []string{"postgres", "pg_ctl", "initdb"} {
		if st, err := os.Stat(filepath.Join(binDir, name+exeSuffix)); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return b, fmt.Errorf("%s has no executable %s", binDir, name)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"+exeSuffix), "--version").Output()
	if err != nil {
		return b, fmt.Errorf("%s/postgres --version failed: %v", binDir, err)
	}
	m := versionRE.FindStringSubmatch(string(out))
	if m == nil {
		return b, fmt.Errorf("cannot read the version of %s/postgres from %q", binDir, strings.TrimSpace(string(out)))
	}
	b.Major, _ = strconv.Atoi(m[1])
	b.Version = m[1]
	if m[2] != "" {
		b.Version += "." + m[2]
	}
	return b, nil
}

// findBinaries lists usable installations in the documented order: embedded.binaries_path (alone,
// when set), pg_config --bindir, the newest /usr/lib/postgresql/*/bin first, postgres on PATH, and
// binaries downloaded earlier into downloadDir.
func findBinaries(ctx context.Context, configured, downloadDir string) ([]binaries, error) {
	if configured != "" {
		dir := configured
		if _, err := os.Stat(filepath.Join(dir, "bin", "postgres"+exeSuffix)); err == nil {
			dir = filepath.Join(dir, "bin")
		}
		abs, err := filepath.Abs(dir)
		if err == nil {
			dir = abs
		}
		b, err := probe(ctx, dir, "embedded.binaries_path")
		if err != nil {
			return nil, fmt.Errorf("embedded.binaries_path %s does not hold a PostgreSQL server (%v): point it at the folder that contains bin/postgres, bin/pg_ctl and bin/initdb", configured, err)
		}
		return []binaries{b}, nil
	}
	var out []binaries
	seen := map[string]bool{}
	add := func(dir, source string) {
		if dir == "" {
			return
		}
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			dir = r
		}
		if seen[dir] {
			return
		}
		seen[dir] = true
		if b, err := probe(ctx, dir, source); err == nil {
			out = append(out, b)
		}
	}
	if pgc, err := exec.LookPath("pg_config"); err == nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if o, err := exec.CommandContext(cctx, pgc, "--bindir").Output(); err == nil {
			add(strings.TrimSpace(string(o)), "pg_config")
		}
		cancel()
	}
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) > 0 {
		sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
		for _, d := range dirs {
			add(d, "/usr/lib/postgresql")
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		add(filepath.Dir(p), "PATH")
	}
	add(filepath.Join(downloadDir, "bin"), "downloaded")
	return out, nil
}

func majorOf(binDir string) float64 {
	f, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return f
}
