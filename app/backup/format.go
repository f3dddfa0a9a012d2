// Package backup writes and restores logical backups of the healthcare database, in process, with
// pgx's COPY support: no pg_dump binary is needed, and the COPY text format it stores is read by
// every PostgreSQL major, so a backup taken on one major restores into another.
//
// # File format (version 1)
//
// A backup is one gzip stream whose gzip header carries the comment HEALTHCARE-BACKUP (so that a
// backup whose first line is damaged is told from a foreign gzip file). Decompressed, it is text,
// line by line:
//
//	HEALTHCARE-BACKUP 1
//	TABLE {"name":"users","columns":["id","username",...]}
//	<the table's rows in PostgreSQL's COPY text format, one line per row>
//	\.
//	TABLE {...}                          one section per table, parents before children
//	...
//	SEQUENCE {"name":"users_id_seq","table":"users","column":"id","last_value":3,"is_called":true}
//	...
//	META {"format_version":1,"schema_version":1,"postgres_version":"15.8",...,"tables":{"users":3,...}}
//	END
//	SHA256 <64 hex digits>
//
// The first line names the format and its version. Each table section holds the rows that
// COPY public.<name> (<columns>) TO STDOUT wrote, ended by a line holding only \. (COPY's own end
// marker: in the text format a backslash inside data is always doubled, so no row can be that line).
// Dates are written with DateStyle ISO, TimeZone UTC, IntervalStyle postgres, bytea_output hex and
// extra_float_digits 3, and read back with the same settings. SEQUENCE lines give each sequence's
// value when the backup was taken. META is the [Meta], including every table's row count. The SHA256
// line is the SHA-256 of every byte before it (from the first line through END and its newline), and
// the stream must end right after it. META comes last because the row counts are known only once
// the tables are copied. `zcat` shows a backup as text (mind that it holds patient data).
//
// Restore reads the file twice: once to verify all of it before touching the database, once to
// load it, checking that the second read has the same SHA-256.
//
// Readers refuse, before anything is written anywhere: a file that does not start with the magic
// line ([ErrNotBackup]), a newer format version ([ErrNewerFormat]), a file that ends early
// ([ErrIncomplete]), and one whose gzip checksum, SHA-256, structure or row counts do not match
// ([ErrDamaged]).
//
// The package never logs or returns row contents. Restore's errors name tables, columns,
// constraints and SQLSTATE codes only, since PostgreSQL's messages about a refused row can quote it.
package backup

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"time"
)

// FormatVersion is the version of the file format this package writes and the newest it reads.
const FormatVersion = 1

// magic starts every backup, followed by a space, the format version and a newline.
const magic = "HEALTHCARE-BACKUP"

// maxControlLine bounds the non-data lines (TABLE, SEQUENCE, META...), so that a damaged file cannot
// make the reader buffer gigabytes looking for a newline.
const maxControlLine = 1 << 20

// Meta describes a backup. It is stored in the file and returned by Dump, ReadMeta and Restore.
type Meta struct {
	FormatVersion   int              `json:"format_version"`   // FormatVersion when written by this package
	SchemaVersion   int              `json:"schema_version"`   // highest applied schema migration
	PostgresVersion string           `json:"postgres_version"` // server_version of the dumped server
	CreatedAt       time.Time        `json:"created_at"`       // the snapshot's time (the dump transaction's now())
	Program         string           `json:"program"`          // DumpOptions.Program
	Tables          map[string]int64 `json:"tables"`           // rows per table
}

// Errors of a backup file, for errors.Is. The error returned names the file and says what to do.
var (
	ErrNotBackup   = errors.New("not a healthcare backup")
	ErrNewerFormat = errors.New("backup format too new")
	ErrIncomplete  = errors.New("backup incomplete")
	ErrDamaged     = errors.New("backup damaged")
)

// fileError is a refusal of a backup file: a sentence for the user, and a kind for errors.Is.
type fileError struct {
	kind     error
	sentence string
}

func (e *fileError) Error() string { return e.sentence }
func (e *fileError) Unwrap() error { return e.kind }

func notBackup(path string) error {
	return &fileError{ErrNotBackup, fmt.Sprintf("%s is not a healthcare backup file; check that you gave the right file.", path)}
}

func newerFormat(path string, v int) error {
	return &fileError{ErrNewerFormat, fmt.Sprintf("%s is a backup in format version %d, but this healthcare program reads only versions up to %d; use the newer healthcare version that wrote it.", path, v, FormatVersion)}
}

func incomplete(path string) error {
	return &fileError{ErrIncomplete, fmt.Sprintf("%s is incomplete (the file ends early, as when a copy or a disk ran out) and cannot be restored; use another backup.", path)}
}

func damaged(path string) error {
	return &fileError{ErrDamaged, fmt.Sprintf("%s is damaged (its contents do not match its checksum) and cannot be restored; use another backup.", path)}
}

// ioError marks errors of the underlying file, so that they are not mistaken for damage.
type ioError struct{ err error }

func (e ioError) Error() string { return e.err.Error() }
func (e ioError) Unwrap() error { return e.err }

type ioErrReader struct{ r io.Reader }

func (r ioErrReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = ioError{err}
	}
	return n, err
}

// tableHeader is a TABLE line.
type tableHeader struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
}

// sequenceValue is a SEQUENCE line. Table and Column name the identity or serial column that owns
// the sequence, if any.
type sequenceValue struct {
	Name      string `json:"name"`
	Table     string `json:"table,omitempty"`
	Column    string `json:"column,omitempty"`
	LastValue int64  `json:"last_value"`
	IsCalled  bool   `json:"is_called"`
}

// writer produces the stream: text through the hash into gzip.
type writer struct {
	zw *gzip.Writer
	h  hash.Hash
	bw *bufio.Writer
}

func newWriter(w io.Writer) *writer {
	zw := gzip.NewWriter(w)
	zw.Comment = magic // tells a backup whose first line is damaged from a foreign gzip file
	h := sha256.New()
	return &writer{zw: zw, h: h, bw: bufio.NewWriterSize(io.MultiWriter(h, zw), 64<<10)}
}

func (w *writer) line(keyword string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.bw.WriteString(keyword)
	w.bw.WriteByte(' ')
	w.bw.Write(b)
	return w.bw.WriteByte('\n')
}

// close writes END, the SHA256 line (not hashed itself) and the gzip trailer.
func (w *writer) close() error {
	w.bw.WriteString("END\n")
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w.zw, "SHA256 %x\n", w.h.Sum(nil)); err != nil {
		return err
	}
	return w.zw.Close()
}

// rowCounter passes COPY data on and counts its rows (lines).
type rowCounter struct {
	w    io.Writer
	rows int64
	last byte
}

func (c *rowCounter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		c.rows += int64(bytes.Count(p, []byte{'\n'}))
		c.last = p[len(p)-1]
	}
	return c.w.Write(p)
}

// contents is what a full read of a backup found.
type contents struct {
	meta      Meta
	tables    []tableHeader // in file order, which is the restore order
	rows      map[string]int64
	sequences []sequenceValue
	sum       []byte
}

// reader parses the decompressed stream, hashing every byte it consumes up to the END line.
type reader struct {
	path string
	br   *bufio.Reader
	h    hash.Hash
}

// fail turns a read error into the refusal the user sees.
func (r *reader) fail(err error) error {
	var ioe ioError
	switch {
	case errors.As(err, &ioe):
		return fmt.Errorf("cannot read %s: %w; check the disk and try again", r.path, ioe.err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return incomplete(r.path)
	default: // gzip: bad checksum, corrupt deflate data, a bad header after the first member
		return damaged(r.path)
	}
}

// controlLine reads one complete line of at most maxControlLine bytes, without its newline.
func (r *reader) controlLine(hashed bool) ([]byte, error) {
	var line []byte
	for {
		b, err := r.br.ReadSlice('\n')
		line = append(line, b...)
		if len(line) > maxControlLine {
			return nil, damaged(r.path)
		}
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return nil, r.fail(err)
	}
	if hashed {
		r.h.Write(line)
	}
	return line[:len(line)-1], nil
}

// section reads one table's COPY data, up to and excluding its \. line, as an io.Reader.
type section struct {
	r       *reader
	pending []byte
	atStart bool // the next byte starts a line
	done    bool
	rows    int64
	err     error
}

func (s *section) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.done {
			return 0, io.EOF
		}
		b, err := s.r.br.ReadSlice('\n')
		switch {
		case err == nil:
			s.r.h.Write(b)
			if s.atStart && len(b) == 3 && b[0] == '\\' && b[1] == '.' {
				s.done = true
				return 0, io.EOF
			}
			s.rows++
			s.atStart = true
		case err == bufio.ErrBufferFull: // a long row: pass on this part
			s.r.h.Write(b)
			s.atStart = false
		default:
			s.err = s.r.fail(err)
			return 0, s.err
		}
		s.pending = b
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

// openBackup opens path and checks the magic line; it returns the reader positioned after it.
func openBackup(path string) (*os.File, *reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot open the backup %s: %w", path, err)
	}
	r, err := startReading(f, path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, r, nil
}

func startReading(f io.Reader, path string) (*reader, error) {
	fr := bufio.NewReaderSize(ioErrReader{f}, 64<<10)
	if head, err := fr.Peek(2); err != nil || head[0] != 0x1f || head[1] != 0x8b {
		var ioe ioError
		if errors.As(err, &ioe) {
			return nil, fmt.Errorf("cannot read %s: %w; check the disk and try again", path, ioe.err)
		}
		if len(head) == 0 {
			return nil, incomplete(path) // an empty file: a backup that was never written
		}
		return nil, notBackup(path)
	}
	zr, err := gzip.NewReader(fr)
	if err != nil {
		var ioe ioError
		switch {
		case errors.As(err, &ioe):
			return nil, fmt.Errorf("cannot read %s: %w; check the disk and try again", path, ioe.err)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, incomplete(path)
		}
		return nil, damaged(path)
	}
	r := &reader{path: path, br: bufio.NewReaderSize(zr, 64<<10), h: sha256.New()}
	// The magic line is short: read it byte by byte so that a large foreign gzip file is not
	// decompressed in search of a newline.
	ours := zr.Comment == magic
	refuse := func() error {
		if ours {
			return damaged(path)
		}
		return notBackup(path)
	}
	var first []byte
	for len(first) <= len(magic)+12 {
		c, err := r.br.ReadByte()
		if err != nil {
			if ours || len(first) == 0 || bytes.HasPrefix([]byte(magic+" "), first) || bytes.HasPrefix(first, []byte(magic+" ")) {
				return nil, r.fail(err)
			}
			return nil, notBackup(path)
		}
		first = append(first, c)
		if c == '\n' {
			break
		}
	}
	if !bytes.HasPrefix(first, []byte(magic+" ")) || first[len(first)-1] != '\n' {
		return nil, refuse()
	}
	r.h.Write(first)
	v, err := strconv.Atoi(string(first[len(magic)+1 : len(first)-1]))
	if err != nil || v < 1 {
		return nil, refuse()
	}
	if v > FormatVersion {
		return nil, newerFormat(path, v)
	}
	return r, nil
}

// parse reads the rest of a version-1 stream. For every table section it calls onTable with the
// header and the section's data (nil onTable discards the data). It returns what the file holds
// once the structure, the SHA-256, the gzip checksum and the row counts have all been checked; an
// error of onTable is returned as it is.
func (r *reader) parse(onTable func(tableHeader, io.Reader) error) (contents, error) {
	c := contents{rows: map[string]int64{}}
	seen := map[string]bool{}
	stage := 0 // 0: tables, 1: sequences, 2: meta read
	for {
		line, err := r.controlLine(true)
		if err != nil {
			return c, err
		}
		keyword, payload, _ := bytes.Cut(line, []byte{' '})
		switch {
		case string(keyword) == "TABLE" && stage == 0:
			var th tableHeader
			if err := json.Unmarshal(payload, &th); err != nil || th.Name == "" || len(th.Columns) == 0 || seen[th.Name] {
				return c, damaged(r.path)
			}
			seen[th.Name] = true
			s := &section{r: r, atStart: true}
			if onTable != nil {
				if err := onTable(th, s); err != nil {
					if s.err != nil {
						return c, s.err
					}
					return c, err
				}
			}
			if _, err := io.Copy(io.Discard, s); err != nil {
				return c, err
			}
			c.tables = append(c.tables, th)
			c.rows[th.Name] = s.rows
		case string(keyword) == "SEQUENCE" && stage <= 1:
			stage = 1
			var sv sequenceValue
			if err := json.Unmarshal(payload, &sv); err != nil || sv.Name == "" {
				return c, damaged(r.path)
			}
			c.sequences = append(c.sequences, sv)
		case string(keyword) == "META" && stage <= 1:
			stage = 2
			if err := json.Unmarshal(payload, &c.meta); err != nil {
				return c, damaged(r.path)
			}
		case string(line) == "END" && stage == 2:
			return c, r.finish(&c)
		default:
			return c, damaged(r.path)
		}
	}
}

// finish checks the SHA256 line, the end of the stream (which makes gzip check its own CRC) and
// that META agrees with the sections.
func (r *reader) finish(c *contents) error {
	c.sum = r.h.Sum(nil)
	line, err := r.controlLine(false)
	if err != nil {
		return err
	}
	hexSum, ok := bytes.CutPrefix(line, []byte("SHA256 "))
	want, herr := hex.DecodeString(string(hexSum))
	if !ok || herr != nil || !bytes.Equal(want, c.sum) {
		return damaged(r.path)
	}
	if _, err := r.br.ReadByte(); err != io.EOF {
		if err == nil {
			return damaged(r.path)
		}
		return r.fail(err)
	}
	if c.meta.FormatVersion > FormatVersion {
		return newerFormat(r.path, c.meta.FormatVersion)
	}
	if c.meta.FormatVersion != FormatVersion || len(c.meta.Tables) != len(c.tables) {
		return damaged(r.path)
	}
	for name, n := range c.rows {
		if m, ok := c.meta.Tables[name]; !ok || m != n {
			return damaged(r.path)
		}
	}
	return nil
}

// readFile reads and verifies a whole backup file.
func readFile(path string) (contents, error) {
	f, r, err := openBackup(path)
	if err != nil {
		return contents{}, err
	}
	defer f.Close()
	return r.parse(nil)
}

// ReadMeta reads a backup file and returns its Meta after verifying all of it: the magic line, the
// format version, the structure, the row counts and the checksums. It writes nothing.
func ReadMeta(path string) (Meta, error) {
	c, err := readFile(path)
	if err != nil {
		return Meta{}, err
	}
	return c.meta, nil
}

// Verify checks a backup file as ReadMeta does; nil means it can be restored into a database whose
// schema is at its SchemaVersion.
func Verify(path string) error {
	_, err := ReadMeta(path)
	return err
}
