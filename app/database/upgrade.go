package database

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"healthcare/app/config"
)

// The data directory's side of 'healthcare upgrade-postgres' (the command itself is in package
// cli): which installations exist, the cluster's major version, and the moves of whole cluster
// directories, each one rename(2) under the data directory's lock.

// Names inside the data directory used by a major upgrade.
const (
	upgradeMarkerName = "postgres.upgrading" // present from the old cluster's move aside until the new one is verified
	oldClusterPrefix  = "postgres.old-"      // + major: the cluster an upgrade replaced, kept until --cleanup
	failedPrefix      = "postgres.failed-"   // + time: the new cluster of an upgrade that failed
)

// Installation is one PostgreSQL installation usable by the embedded mode.
type Installation struct {
	BinDir  string // .../bin holding postgres, pg_ctl and initdb
	Major   int    // 17
	Version string // 17.6
	Source  string // how it was found: "embedded.binaries_path", "pg_config", "/usr/lib/postgresql", "PATH", "downloaded", "given"
}

// Installations lists the PostgreSQL installations that the embedded mode of cfg can use:
// embedded.binaries_path first when set, then every one that discovery finds when it is empty
// (pg_config, /usr/lib/postgresql/* newest first, PATH, <data_dir>/pg-binaries), each once.
// Unlike a start, it lists them all: an upgrade needs the cluster's major and a newer one.
func Installations(ctx context.Context, cfg *config.Config) ([]Installation, error) {
	dataDir := cfg.DataDir
	if dataDir == "" {
		dataDir = DataDir(cfg)
	}
	var out []Installation
	seen := map[string]bool{}
	add := func(bs []binaries) {
		for _, b := range bs {
			key := b.BinDir
			if r, err := filepath.EvalSymlinks(key); err == nil {
				key = r
			}
			if !seen[key] {
				seen[key] = true
				out = append(out, Installation{BinDir: b.BinDir, Major: b.Major, Version: b.Version, Source: b.Source})
			}
		}
	}
	if cfg.Embedded.BinariesPath != "" {
		bs, err := findBinaries(ctx, cfg.Embedded.BinariesPath, "")
		if err != nil {
			return nil, err
		}
		add(bs)
	}
	bs, err := findBinaries(ctx, "", filepath.Join(dataDir, downloadDirName))
	if err != nil {
		return nil, err
	}
	add(bs)
	return out, nil
}

// FindInstallation probes dir (a PostgreSQL installation's folder or its bin/) as
// embedded.binaries_path would be.
func FindInstallation(ctx context.Context, dir string) (Installation, error) {
	bs, err := findBinaries(ctx, dir, "")
	if err != nil {
		return Installation{}, fmt.Errorf("%s does not hold a PostgreSQL server: point it at the folder that contains bin/postgres, bin/pg_ctl and bin/initdb", dir)
	}
	b := bs[0]
	return Installation{BinDir: b.BinDir, Major: b.Major, Version: b.Version, Source: "given"}, nil
}

// ClusterMajor reads the major version of the cluster in dataDir; exists is false when there is
// none yet. A damaged cluster is an error saying what to do, as at start-up.
func ClusterMajor(dataDir string) (major int, exists bool, err error) {
	major, isNew, err := inspectCluster(filepath.Join(dataDir, clusterDirName))
	if err != nil {
		return 0, false, err
	}
	return major, !isNew, nil
}

// ClusterDir is where the cluster of dataDir lives.
func ClusterDir(dataDir string) string { return filepath.Join(dataDir, clusterDirName) }

// UpgradeState is what the upgrade marker records while the old cluster is moved aside.
type UpgradeState struct {
	FromMajor  int       `json:"from_major"`
	ToMajor    int       `json:"to_major"`
	OldCluster string    `json:"old_cluster"` // name of the old cluster's directory inside the data directory
	StartedAt  time.Time `json:"started_at"`
}

// PendingUpgrade reads the marker of an upgrade that moved the old cluster aside and has not
// finished (it is running, or was killed); ok is false when there is none.
func PendingUpgrade(dataDir string) (st UpgradeState, ok bool, err error) {
	path := filepath.Join(dataDir, upgradeMarkerName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("cannot read %s: %v", path, unwrapPath(err))
	}
	if err := json.Unmarshal(b, &st); err != nil || !strings.HasPrefix(st.OldCluster, oldClusterPrefix) || strings.ContainsRune(st.OldCluster, '/') {
		return st, true, fmt.Errorf("%s, which marks an unfinished PostgreSQL upgrade, is damaged (%q): the old cluster is in a %s* directory of %s; put it back as postgres/ by hand, then remove the file", path, strings.TrimSpace(string(b)), oldClusterPrefix, dataDir)
	}
	return st, true, nil
}

// pendingUpgradeError is StartEmbedded's refusal while an upgrade's marker is present: the
// cluster in postgres/ (if any) is a new one that is not complete.
func pendingUpgradeError(dataDir string) error {
	st, ok, err := PendingUpgrade(dataDir)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	return fmt.Errorf("an upgrade of the PostgreSQL cluster in %s from PostgreSQL %d to %d did not finish (started %s), so the data cannot be used now: run 'healthcare upgrade-postgres' again, which puts the PostgreSQL %d cluster back from %s and starts over (nothing was changed)",
		dataDir, st.FromMajor, st.ToMajor, st.StartedAt.Local().Format("2006-01-02 15:04:05"), st.FromMajor, filepath.Join(dataDir, st.OldCluster))
}

// OldClusterName is the name the cluster of major keeps after an upgrade replaced it.
func OldClusterName(major int) string { return oldClusterPrefix + strconv.Itoa(major) }

// MoveClusterAside starts an upgrade from major from to to: it records the upgrade in the marker
// (so that nothing starts on the data directory until the upgrade finished or was rolled back),
// then renames postgres/ to postgres.old-<from>/. The caller holds the data directory's lock
// and has stopped the server. It refuses when postgres.old-<from> exists already.
func MoveClusterAside(dataDir string, from, to int) (string, error) {
	cluster := ClusterDir(dataDir)
	name := OldClusterName(from)
	old := filepath.Join(dataDir, name)
	if _, err := os.Lstat(old); err == nil {
		return "", fmt.Errorf("%s exists already (left by an earlier upgrade): remove it with 'healthcare upgrade-postgres --cleanup --yes', or move it out of the data directory, then run the upgrade again (nothing was changed)", old)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("cannot read %s: %v", old, unwrapPath(err))
	}
	b, _ := json.Marshal(UpgradeState{FromMajor: from, ToMajor: to, OldCluster: name, StartedAt: time.Now().UTC().Truncate(time.Second)})
	marker := filepath.Join(dataDir, upgradeMarkerName)
	if err := writeFileSync(marker, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("cannot write %s (nothing was changed): %v", marker, unwrapPath(err))
	}
	if err := os.Rename(cluster, old); err != nil {
		os.Remove(marker)
		return "", fmt.Errorf("cannot move the PostgreSQL %d cluster aside to %s (nothing was changed): %v", from, old, unwrapPath(err))
	}
	if err := syncDir(dataDir); err != nil {
		return old, err
	}
	return old, nil
}

// FinishUpgrade ends an upgrade whose new cluster is complete and verified: it removes the
// marker. The old cluster stays in postgres.old-<major>/ until RemoveOldCluster.
func FinishUpgrade(dataDir string) error {
	marker := filepath.Join(dataDir, upgradeMarkerName)
	if err := os.Remove(marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot remove %s: %v", marker, unwrapPath(err))
	}
	return syncDir(dataDir)
}

// RollBackUpgrade undoes an unfinished upgrade recorded in the marker: the new cluster in
// postgres/ (if any; a server left running on it by a killed upgrade is stopped first) is renamed
// to postgres.failed-<time>/, the old cluster is renamed back to postgres/, and the marker is
// removed. It returns the failed cluster's path ("" when there was none). Nothing is deleted. The
// caller holds the data directory's lock and has stopped its own server on the new cluster.
func RollBackUpgrade(dataDir string, log *slog.Logger) (failedAs string, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, ok, err := PendingUpgrade(dataDir)
	if err != nil || !ok {
		return "", err
	}
	cluster := ClusterDir(dataDir)
	old := filepath.Join(dataDir, st.OldCluster)
	if _, err := os.Lstat(old); errors.Is(err, fs.ErrNotExist) {
		// Stopped before the move: postgres/ is still the old cluster.
		major, exists, err := ClusterMajor(dataDir)
		if err != nil || !exists || major != st.FromMajor {
			return "", fmt.Errorf("an unfinished upgrade from PostgreSQL %d is recorded in %s, but neither %s nor a PostgreSQL %d cluster in %s is there: find the old cluster, put it back as %s, then remove %s",
				st.FromMajor, filepath.Join(dataDir, upgradeMarkerName), old, st.FromMajor, cluster, cluster, upgradeMarkerName)
		}
		return "", FinishUpgrade(dataDir)
	} else if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", old, unwrapPath(err))
	}
	if _, err := os.Lstat(cluster); err == nil {
		if err := stopOrphan(cluster, log); err != nil {
			return "", err
		}
		failedAs = filepath.Join(dataDir, failedPrefix+time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(cluster, failedAs); err != nil {
			return "", fmt.Errorf("cannot move the unfinished new cluster %s aside: %v; the old cluster is safe in %s", cluster, unwrapPath(err), old)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("cannot read %s: %v; the old cluster is safe in %s", cluster, unwrapPath(err), old)
	}
	if err := os.Rename(old, cluster); err != nil {
		return failedAs, fmt.Errorf("cannot put the old cluster %s back as %s: %v; move it back by hand", old, cluster, unwrapPath(err))
	}
	if err := syncDir(dataDir); err != nil {
		return failedAs, err
	}
	log.Info("upgrade-postgres: the old cluster is back in place", "cluster", cluster, "from", old, "unfinished_new_cluster", failedAs)
	return failedAs, FinishUpgrade(dataDir)
}

// SetAside is a cluster directory an upgrade left beside postgres/.
type SetAside struct {
	Path   string
	Failed bool  // postgres.failed-*: the new cluster of a failed upgrade; else postgres.old-*
	Size   int64 // bytes of its files
}

// SetAsideClusters lists the postgres.old-* and postgres.failed-* directories of dataDir.
func SetAsideClusters(dataDir string) ([]SetAside, error) {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", dataDir, unwrapPath(err))
	}
	var out []SetAside
	for _, e := range entries {
		name := e.Name()
		failed := strings.HasPrefix(name, failedPrefix)
		if !e.IsDir() || !(isOldClusterName(name) || failed) {
			continue
		}
		path := filepath.Join(dataDir, name)
		out = append(out, SetAside{Path: path, Failed: failed, Size: treeSize(path)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func isOldClusterName(name string) bool {
	n, err := strconv.Atoi(strings.TrimPrefix(name, oldClusterPrefix))
	return strings.HasPrefix(name, oldClusterPrefix) && err == nil && n > 0
}

// RemoveOldCluster deletes path, which must be a postgres.old-<major> directory of dataDir, while
// no upgrade is unfinished (its rollback needs the old cluster) and postgres/ holds a cluster.
// The caller holds the data directory's lock.
func RemoveOldCluster(dataDir, path string) error {
	if filepath.Dir(path) != filepath.Clean(dataDir) || !isOldClusterName(filepath.Base(path)) {
		return fmt.Errorf("%s is not an old cluster of %s", path, dataDir)
	}
	if _, ok, err := PendingUpgrade(dataDir); err != nil || ok {
		if err == nil {
			err = errors.New("an upgrade of PostgreSQL did not finish and needs the old cluster to roll back: run 'healthcare upgrade-postgres' first; nothing was removed")
		}
		return err
	}
	if _, exists, err := ClusterMajor(dataDir); err != nil || !exists {
		return fmt.Errorf("%s holds no PostgreSQL cluster, so %s may be the only copy of the data: put it back as postgres/ instead; nothing was removed", ClusterDir(dataDir), path)
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("cannot remove %s: %v", path, unwrapPath(err))
	}
	return syncDir(dataDir)
}

func treeSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
