package cli

import (
	"fmt"
	"log/slog"

	"healthcare/app/auth"
	"healthcare/app/config"
	"healthcare/app/database"
	"healthcare/app/store"
)

// newAuth builds the authentication service (it loads or creates the token signing secret).
func newAuth(cfg *config.Config, db *database.DB, log *slog.Logger) (*auth.Service, error) {
	svc, err := auth.New(cfg, store.New(db.Pool, cfg.Database.QueryTimeout), log)
	if err != nil {
		return nil, fmt.Errorf("cannot start authentication: %w", err)
	}
	return svc, nil
}
