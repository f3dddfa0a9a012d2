// Package server wires the HTTP application: middleware, health endpoints, the JSON API and the
// embedded admin UI, and runs it with a graceful shutdown.
package server

import (
	"context"
	"io/fs"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/api"
	"healthcare/app/auth"
	"healthcare/app/config"
	"healthcare/app/store"
)

// Options are the server's dependencies.
type Options struct {
	Config *config.Config
	Pool   *pgxpool.Pool
	Auth   *auth.Service
	UI     fs.FS // nil for a headless (no_ui) build
	Log    *slog.Logger
}

// New builds the Fiber application.
func New(o Options) *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "healthcare",
		BodyLimit:             o.Config.Server.BodyLimit,
		DisableStartupMessage: true,
		ErrorHandler:          api.ErrorHandler(o.Log),
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
	})

	app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	app.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if err := o.Pool.Ping(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "detail": "The database is not answering."})
		}
		return c.JSON(fiber.Map{"status": "ok"})
	})

	a := &api.API{
		Store:  store.New(o.Pool, o.Config.Database.QueryTimeout),
		Auth:   o.Auth,
		Config: o.Config,
		Log:    o.Log,
	}
	a.Register(app)
	return app
}
