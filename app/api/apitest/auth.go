package apitest

import (
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/auth"
	"healthcare/app/config"
)

// newAuth builds the authentication service for a test server. (Placeholder: the accounts work
// fills it, and adds helpers such as Register and Login.)
func newAuth(t testing.TB, cfg *config.Config, pool *pgxpool.Pool, log *slog.Logger) *auth.Service {
	return &auth.Service{}
}
