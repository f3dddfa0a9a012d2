package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"healthcare/app/config"
	"healthcare/app/privilege"
)

// SecretFile is the name of the generated signing secret inside the data directory.
const SecretFile = "jwt-secret"

// loadSecret returns the configured secret, else the one kept in the data directory, creating it
// on first start. Two processes starting at once agree: the secret is written to a temporary file
// and linked into place, which fails if the other won, and then the winner's secret is read.
func loadSecret(cfg *config.Config, log *slog.Logger) ([]byte, error) {
	if cfg.Auth.JWTSecret != "" {
		return []byte(cfg.Auth.JWTSecret), nil
	}
	if cfg.DataDir == "" {
		return nil, errors.New("no JWT secret: set auth.jwt_secret or a data directory to keep a generated one in")
	}
	path := filepath.Join(cfg.DataDir, SecretFile)
	if !cfg.EmbeddedMode() {
		// Replicas behind a load balancer each have their own data directory, hence their own
		// secret, and would refuse each other's tokens.
		log.Warn("the JWT secret is kept in this replica's data directory: when several copies share the database, give them all the same auth.jwt_secret (or auth.jwt_secret_file)", "path", path)
	}
	if b, err := readSecret(path, log); err == nil {
		return b, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(cfg.DataDir, ".jwt-secret-*")
	if err != nil {
		return nil, fmt.Errorf("create the JWT secret in %s: %w", cfg.DataDir, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(hex.EncodeToString(raw) + "\n")
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return nil, fmt.Errorf("write the JWT secret %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err == nil {
		log.Info("generated a new JWT signing secret", "path", path)
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create the JWT secret %s: %w", path, err)
	}
	return readSecret(path, log)
}

// readSecret reads the secret file at path after privilege.SecureFile: one readable by others is
// restricted to its owner, one writable by others (anyone could have replaced it, and forged
// tokens with it) is refused. A missing file is fs.ErrNotExist.
func readSecret(path string, log *slog.Logger) ([]byte, error) {
	if err := privilege.SecureFile(path, log); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("read the JWT secret %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 32 {
		return nil, fmt.Errorf("the JWT secret in %s is too short: delete the file to generate a new one (this logs everyone out)", path)
	}
	return []byte(s), nil
}
