package backup

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// inflate and deflate let tests rewrite a backup's text.
func inflate(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func deflate(t *testing.T, text []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(text)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// resign replaces the SHA256 line of a backup's text with the right one for what precedes it.
func resign(text []byte) []byte {
	i := bytes.LastIndex(text, []byte("END\n")) + len("END\n")
	return fmt.Appendf(text[:i:i], "SHA256 %x\n", sha256.Sum256(text[:i]))
}

func TestCorruptFilesAreRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, _ := freshDB(t)
	fill(t, src)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.backup")
	if _, err := WriteFile(ctx, src, good, DumpOptions{}); err != nil {
		t.Fatal(err)
	}
	raw := readBytes(t, good)
	text := inflate(t, raw)

	flipped := bytes.Clone(raw)
	flipped[len(flipped)/2] ^= 0x01
	newer := bytes.Replace(text, []byte("HEALTHCARE-BACKUP 1\n"), []byte("HEALTHCARE-BACKUP 99\n"), 1)
	newerMeta := resign(bytes.Replace(text, []byte(`META {"format_version":1,`), []byte(`META {"format_version":99,`), 1))
	wrongMagic := resign(bytes.Replace(text, []byte("HEALTHCARE-BACKUP 1\n"), []byte("HEALTHCARE-BACKUQ 1\n"), 1))
	noTrailer := text[:bytes.LastIndex(text, []byte("SHA256 "))]
	fewerRows := resign(bytes.Replace(text, []byte(`"rate_limits":3`), []byte(`"rate_limits":2`), 1))
	if bytes.Equal(fewerRows, resign(bytes.Clone(text))) {
		t.Fatal("test setup: the META line has no rate_limits count of 3")
	}
	// A row changed in the text, the checksum left as it was.
	editedRow := bytes.Replace(text, []byte("login:127.0.0.1"), []byte("login:127.0.0.2"), 1)

	for _, c := range []struct {
		name     string
		content  []byte
		kind     error
		sentence string
	}{
		{"truncated to half", raw[:len(raw)/2], ErrIncomplete, "is incomplete"},
		{"truncated by one byte", raw[:len(raw)-1], ErrIncomplete, "is incomplete"},
		{"empty", nil, ErrIncomplete, "is incomplete"},
		{"checksum line missing", deflate(t, noTrailer), ErrIncomplete, "is incomplete"},
		{"one flipped byte in the middle", flipped, ErrDamaged, "is damaged"},
		{"a row edited", deflate(t, editedRow), ErrDamaged, "is damaged"},
		{"row counts disagree", deflate(t, fewerRows), ErrDamaged, "is damaged"},
		{"trailing data", append(bytes.Clone(raw), deflate(t, []byte("more\n"))...), ErrDamaged, "is damaged"},
		{"wrong magic", deflate(t, wrongMagic), ErrNotBackup, "is not a healthcare backup file"},
		{"plain text", []byte("HEALTHCARE-BACKUP 1\nnot compressed\n"), ErrNotBackup, "is not a healthcare backup file"},
		{"another gzip file", deflate(t, []byte("hello\n")), ErrNotBackup, "is not a healthcare backup file"},
		{"format version 99", deflate(t, newer), ErrNewerFormat, "is a backup in format version 99"},
		{"format version 99 in META", deflate(t, newerMeta), ErrNewerFormat, "is a backup in format version 99"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".backup")
			writeBytes(t, path, c.content)
			_, err := ReadMeta(path)
			if !errors.Is(err, c.kind) {
				t.Fatalf("ReadMeta: err = %v, want %v", err, c.kind)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+" "+c.sentence) || !strings.HasSuffix(msg, ".") || strings.Count(msg, ". ") > 0 {
				t.Errorf("ReadMeta: %q is not one sentence starting %q", msg, path+" "+c.sentence)
			}
			if Verify(path) == nil {
				t.Error("Verify accepted the file")
			}

			dst, _ := freshDB(t)
			_, err = Restore(ctx, dst, path)
			if !errors.Is(err, c.kind) || err.Error() != msg {
				t.Errorf("Restore: err = %v, want ReadMeta's %q", err, msg)
			}
			assertEmpty(t, dst)
		})
	}
}

// sameContent reports whether two gzip files decompress, intact, to the same bytes.
func sameContent(t *testing.T, a, b []byte) bool {
	t.Helper()
	read := func(x []byte) ([]byte, bool) {
		zr, err := gzip.NewReader(bytes.NewReader(x))
		if err != nil {
			return nil, false
		}
		out, err := io.ReadAll(zr)
		return out, err == nil
	}
	ca, okA := read(a)
	cb, okB := read(b)
	return okA && okB && bytes.Equal(ca, cb)
}

// Every single flipped byte that changes the contents is refused (a sample of positions across
// the file).
func TestEveryFlippedByteIsRefused(t *testing.T) {
	t.Parallel()
	src, _ := freshDB(t)
	fill(t, src)
	var buf bytes.Buffer
	if _, err := Dump(context.Background(), src, &buf, DumpOptions{}); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	dir := t.TempDir()
	kinds := map[string]int{}
	// The gzip header (10 bytes, then the comment) holds nothing that must be intact: start after it.
	header := 10 + len(magic) + 1
	for i := 0; i < 200; i++ {
		pos := header + i*(len(raw)-header)/200
		b := bytes.Clone(raw)
		b[pos] ^= 0x10
		if sameContent(t, raw, b) {
			// A padding bit of the deflate stream (before a byte-aligned block): not damage.
			kinds["padding"]++
			continue
		}
		path := filepath.Join(dir, fmt.Sprintf("flip-%d.backup", pos))
		writeBytes(t, path, b)
		_, err := ReadMeta(path)
		var fe *fileError
		if !errors.As(err, &fe) {
			t.Fatalf("byte %d of %d flipped: err = %v, want a refusal", pos, len(raw), err)
		}
		if fe.kind != ErrDamaged && fe.kind != ErrIncomplete {
			t.Errorf("byte %d of %d flipped: %v, want damaged (or incomplete)", pos, len(raw), err)
		}
		kinds[fmt.Sprint(fe.kind)]++
	}
	t.Logf("refusals: %v", kinds)
}
