package auth

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"healthcare/app/config"
)

// shippedArgon2 reads the argon2id parameters of the repository's config.yaml.
func shippedArgon2(t testing.TB) (uint32, uint32, uint8) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	defaults, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{Defaults: defaults, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Auth.Argon2MemoryKiB, cfg.Auth.Argon2Iterations, cfg.Auth.Argon2Parallelism
}
