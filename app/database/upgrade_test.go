package database_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"healthcare/app/database"
)

// The directory moves of a PostgreSQL major upgrade, on plain files (the whole upgrade with real
// PostgreSQL majors is tested in package cli): nothing is ever deleted but postgres.old-*, and
// only when postgres/ holds a cluster and no upgrade is unfinished.

func fakeCluster(t *testing.T, dir, major string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte(major+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func pgVersion(t *testing.T, dir string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "PG_VERSION"))
	return strings.TrimSpace(string(b))
}

func TestUpgradeMovesAndRollBack(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	cluster := filepath.Join(dataDir, "postgres")
	fakeCluster(t, cluster, "15")

	old, err := database.MoveClusterAside(dataDir, 15, 17)
	if err != nil || old != filepath.Join(dataDir, "postgres.old-15") || pgVersion(t, old) != "15" {
		t.Fatalf("MoveClusterAside = %q, %v", old, err)
	}
	// Every start refuses while the marker is there, naming the command.
	_, err = database.StartEmbedded(context.Background(), database.EmbeddedOptions{DataDir: dataDir}, nil)
	if err == nil || !strings.Contains(err.Error(), "healthcare upgrade-postgres") || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("StartEmbedded during an upgrade: %v", err)
	}
	if _, err := os.Stat(cluster); !os.IsNotExist(err) {
		t.Fatalf("the refused start created %s", cluster)
	}
	// The old cluster cannot be removed while the upgrade may need it to roll back.
	if err := database.RemoveOldCluster(dataDir, old); err == nil || pgVersion(t, old) != "15" {
		t.Fatalf("RemoveOldCluster during an upgrade: %v", err)
	}

	fakeCluster(t, cluster, "17") // the unfinished new cluster
	failed, err := database.RollBackUpgrade(dataDir, nil)
	if err != nil || !strings.HasPrefix(filepath.Base(failed), "postgres.failed-") || pgVersion(t, failed) != "17" {
		t.Fatalf("RollBackUpgrade = %q, %v", failed, err)
	}
	if pgVersion(t, cluster) != "15" {
		t.Fatal("the old cluster is not back in place")
	}
	if _, ok, _ := database.PendingUpgrade(dataDir); ok {
		t.Fatal("the marker is left after the rollback")
	}

	// A leftover postgres.old-15 refuses the next upgrade, untouched.
	old, _ = database.MoveClusterAside(dataDir, 15, 17)
	fakeCluster(t, cluster, "17")
	if err := database.FinishUpgrade(dataDir); err != nil {
		t.Fatal(err)
	}
	fakeCluster(t, cluster, "15") // as if the data had come back to 15 by other means
	if _, err := database.MoveClusterAside(dataDir, 15, 17); err == nil || !strings.Contains(err.Error(), "--cleanup --yes") {
		t.Fatalf("MoveClusterAside over a leftover: %v", err)
	}
	if pgVersion(t, cluster) != "15" || pgVersion(t, old) != "15" {
		t.Fatal("the refused move changed something")
	}

	// Only postgres.old-<major> is removed, and only beside a cluster.
	for _, bad := range []string{failed, cluster, filepath.Join(dataDir, "postgres.old-x"), filepath.Join(t.TempDir(), "postgres.old-15")} {
		if err := database.RemoveOldCluster(dataDir, bad); err == nil {
			t.Errorf("RemoveOldCluster(%s) was not refused", bad)
		}
	}
	os.Rename(cluster, filepath.Join(dataDir, "elsewhere"))
	if err := database.RemoveOldCluster(dataDir, old); err == nil || pgVersion(t, old) != "15" {
		t.Fatalf("RemoveOldCluster without postgres/: %v", err)
	}
	os.Rename(filepath.Join(dataDir, "elsewhere"), cluster)
	list, err := database.SetAsideClusters(dataDir)
	if err != nil || len(list) != 2 || list[0].Path != failed || !list[0].Failed || list[1].Path != old || list[1].Failed || list[1].Size == 0 {
		t.Fatalf("SetAsideClusters = %+v, %v", list, err)
	}
	if err := database.RemoveOldCluster(dataDir, old); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("%s is still there", old)
	}
	if pgVersion(t, failed) != "17" || pgVersion(t, cluster) != "15" {
		t.Fatal("RemoveOldCluster removed something else")
	}
}
