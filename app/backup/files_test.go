package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := freshDB(t)
	fill(t, src)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.backup")

	if _, err := WriteFile(ctx, src, path, DumpOptions{}); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: a backup holds patient data", info.Mode().Perm())
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"a.backup"}) {
		t.Errorf("directory holds %v, want only a.backup", names)
	}
	good := readBytes(t, path)

	t.Run("connection inside a transaction", func(t *testing.T) {
		exec(t, src, "BEGIN")
		defer exec(t, src, "ROLLBACK")
		var buf bytes.Buffer
		if _, err := Dump(ctx, src, &buf, DumpOptions{}); err == nil || !strings.Contains(err.Error(), "inside a transaction") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) { // after the others that use src: pgx closes a connection whose BEGIN was cancelled
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := WriteFile(cctx, src, path, DumpOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if names := dirNames(t, dir); !slices.Equal(names, []string{"a.backup"}) {
			t.Errorf("directory holds %v after a failed write, want only the earlier a.backup", names)
		}
		if !bytes.Equal(readBytes(t, path), good) {
			t.Error("a failed WriteFile changed the existing backup")
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		_, err := WriteFile(ctx, src, filepath.Join(dir, "nope", "b.backup"), DumpOptions{})
		if err == nil || !strings.Contains(err.Error(), "check that the directory exists and is writable") {
			t.Fatalf("err = %v", err)
		}
	})
}

// A dump cancelled half-way leaves no file at all. Not parallel: it sets testHookAfterTable.
func TestWriteFileCancelledMidway(t *testing.T) {
	src, _ := freshDB(t)
	fill(t, src)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	copied := 0
	testHookAfterTable = func(string) {
		copied++
		cancel()
	}
	defer func() { testHookAfterTable = nil }()
	_, err := WriteFile(ctx, src, filepath.Join(dir, "c.backup"), DumpOptions{})
	testHookAfterTable = nil
	if err == nil || copied != 1 {
		t.Fatalf("err = %v after %d tables, want a cancellation after the first", err, copied)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("directory holds %v after a cancelled dump, want nothing", names)
	}
}

func TestFileName(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("CET", 3600))
	if got, want := FileName(at, 3), "healthcare-20260102T020405Z-v3.backup"; got != want {
		t.Errorf("FileName = %q, want %q", got, want)
	}
	if !namePattern.MatchString(FileName(time.Now(), 12)) {
		t.Error("List and Prune would not recognise FileName's names")
	}
}

func TestListAndPrune(t *testing.T) {
	t.Parallel()
	src, _ := freshDB(t)
	exec(t, src, `INSERT INTO users (username, email, password_hash) VALUES ('a', 'a@example.com', 'h')`)
	var buf bytes.Buffer
	if _, err := Dump(context.Background(), src, &buf, DumpOptions{}); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	damagedCopy := bytes.Clone(good)
	damagedCopy[len(damagedCopy)/2] ^= 0x01

	dir := t.TempDir()
	day := func(d int) time.Time { return time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC) }
	files := map[string][]byte{
		FileName(day(1), 1):  good,
		FileName(day(2), 1):  good,
		FileName(day(3), 1):  damagedCopy, // old and damaged, but ours: pruned
		FileName(day(4), 1):  good,
		FileName(day(5), 1):  good,
		FileName(day(6), 1):  good,
		FileName(day(7), 1):  damagedCopy, // the newest is damaged: not counted, not removed
		FileName(day(0), 1):  []byte("not a backup, though named like one\n"),
		"notes.txt":          []byte("keep me"),
		"healthcare.backup":  good, // not named like ours
		".x.backup.1234.tmp": good, // a WriteFile in progress
	}
	for name, b := range files {
		writeBytes(t, filepath.Join(dir, name), b)
	}
	os.Mkdir(filepath.Join(dir, FileName(day(8), 1)), 0o700) // a directory named like a backup

	list, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, e := range list {
		listed = append(listed, filepath.Base(e.Path))
		if want := files[filepath.Base(e.Path)]; e.Size != int64(len(want)) {
			t.Errorf("%s: size %d, want %d", e.Path, e.Size, len(want))
		}
		switch e.Time.Day() {
		case 3, 7:
			if !errors.Is(e.Err, ErrDamaged) {
				t.Errorf("%s: Err = %v, want damaged", e.Path, e.Err)
			}
		case 28: // day(0), the last day of February
			if !errors.Is(e.Err, ErrNotBackup) {
				t.Errorf("%s: Err = %v, want not a backup", e.Path, e.Err)
			}
		default:
			if e.Err != nil || e.Meta.Tables["users"] != 1 {
				t.Errorf("%s: Err = %v, Meta = %+v", e.Path, e.Err, e.Meta)
			}
		}
	}
	wantListed := []string{FileName(day(7), 1), FileName(day(6), 1), FileName(day(5), 1), FileName(day(4), 1),
		FileName(day(3), 1), FileName(day(2), 1), FileName(day(1), 1), FileName(day(0), 1)}
	if !slices.Equal(listed, wantListed) {
		t.Errorf("List = %v, want newest first %v", listed, wantListed)
	}

	if _, err := Prune(dir, 0); err == nil {
		t.Error("Prune(dir, 0) would remove every backup; want an error")
	}
	removed, err := Prune(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	var removedNames []string
	for _, p := range removed {
		removedNames = append(removedNames, filepath.Base(p))
	}
	if want := []string{FileName(day(4), 1), FileName(day(3), 1), FileName(day(2), 1), FileName(day(1), 1)}; !slices.Equal(removedNames, want) {
		t.Errorf("Prune removed %v, want %v", removedNames, want)
	}
	left := dirNames(t, dir)
	for _, keep := range []string{FileName(day(7), 1), FileName(day(6), 1), FileName(day(5), 1), FileName(day(0), 1),
		FileName(day(8), 1), "notes.txt", "healthcare.backup", ".x.backup.1234.tmp"} {
		if !slices.Contains(left, keep) {
			t.Errorf("Prune removed %s", keep)
		}
	}
	if again, err := Prune(dir, 2); err != nil || len(again) != 0 {
		t.Errorf("second Prune removed %v, err %v; want nothing", again, err)
	}
}

// TestBackupsInOneSecondAreKept: backups written within one second (a scheduled one and an
// administrator's) are two files; the second never replaces the first.
func TestBackupsInOneSecondAreKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := freshDB(t)
	dir := t.TempDir()
	var paths []string
	for range 3 {
		path, _, err := Write(ctx, src, dir, "", "test")
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	if names := dirNames(t, dir); len(names) != 3 || paths[0] == paths[1] || paths[1] == paths[2] {
		t.Errorf("three backups in a row wrote %v as %v, want three files", paths, names)
	}
	cs, err := candidates(dir)
	if err != nil || len(cs) != 3 || cs[0].path != paths[2] {
		t.Errorf("newest first: %v, %v; want %s first", cs, err, paths[2])
	}
}
