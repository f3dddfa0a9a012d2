// Package server wires the HTTP application: middleware, health endpoints, the JSON API and the
// embedded admin UI, and runs it with a graceful shutdown.
package server

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"healthcare/app/api"
	"healthcare/app/audit"
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
	// Version is the release, written into the backups the admin API makes ("" is "dev").
	Version string
	// Audit writes the audit rows of reads; nil: New starts one, flushed and stopped when the
	// application shuts down.
	Audit *audit.Recorder
}

// New builds the Fiber application: middleware, /healthz and /readyz, the /api routes and the UI.
func New(o Options) *fiber.App {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	cfg := fiber.Config{
		AppName: "healthcare",
		// As Django's URL patterns: /API/patients/ is not /api/patients/ (404), so no spelling of a
		// path reaches a route under rules meant for another.
		CaseSensitive:         true,
		BodyLimit:             o.Config.Server.BodyLimit,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(api.ErrorHandler(o.Log, o.Pool.Ping), o.Log),
		// A request must arrive whole within read_timeout; a slow reader gets write_timeout.
		ReadTimeout:  o.Config.Server.ReadTimeout,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  120 * time.Second,
		// LimitConnections keeps to server.max_connections, answering in JSON; fasthttp's own
		// limit (a plain-text 503) is only a backstop above it, for connections it has not yet
		// let go of.
		Concurrency: o.Config.Server.MaxConnections + o.Config.Server.MaxConnections/4,
		// The client address is clientIP's (right-most untrusted X-Forwarded-For); c.IP() stays
		// the TCP peer. Trusted proxies still give X-Forwarded-Proto and -Host.
		EnableTrustedProxyCheck: true,
		TrustedProxies:          o.Config.Server.TrustedProxies,
		EnableIPValidation:      true,
	}
	app := fiber.New(cfg)
	// Once shutdown began, every answer says "Connection: close", so a keep-alive client opens a
	// new connection for its next request instead of sending it on one about to be closed.
	app.Server().CloseOnShutdown = true

	// Outermost first: every response, errors included, gets an id, headers and a log line.
	idle := newIdleMemory()
	stopIdle := make(chan struct{})
	go idle.watch(stopIdle, 2*time.Second)
	app.Hooks().OnShutdown(func() error { close(stopIdle); return nil })
	budget := newSendBudget(sendBudgetTotal, sendBudgetPerAddress)
	app.Use(idle.count, clientAddress(parseProxies(o.Config.Server.TrustedProxies)), requestID, securityHeaders,
		accessLog(o.Log), recoverPanics(o.Log), budget.limit, wellFormed, newHosts(o.Config).checkHost)

	app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	app.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if err := o.Pool.Ping(ctx); err != nil {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(api.RetryAfter))
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "detail": "The database is not answering."})
		}
		return c.JSON(fiber.Map{"status": "ok"})
	})

	st := store.New(o.Pool, o.Config.Database.QueryTimeout)
	st.SearchTimeout(o.Config.Database.SearchTimeout)
	if o.Audit == nil {
		o.Audit = audit.New(st, o.Log)
		// After the last request finished: what is queued is written before the pool closes.
		app.Hooks().OnShutdown(func() error { o.Audit.Close(); return nil })
	}
	a := &api.API{
		Audit:   o.Audit,
		Store:   st,
		Auth:    o.Auth,
		Config:  o.Config,
		Log:     o.Log,
		Version: o.Version,
		Send:    budget.admit,
	}
	a.Register(app)
	if err := mountUI(app, o.UI); err != nil {
		o.Log.Error("admin UI not served", "error", err)
	}
	return app
}

// Serve answers requests on ln until ctx is done, then lets in-flight requests finish for at most
// timeout. It returns the listener's error if serving stops by itself.
func Serve(ctx context.Context, app *fiber.App, ln net.Listener, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(strictListener{ln}) }()
	select {
	case err := <-errc:
		if err == nil {
			err = errors.New("the HTTP server stopped unexpectedly")
		}
		return err
	case <-ctx.Done():
	}
	err := app.ShutdownWithTimeout(timeout)
	<-errc
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("some requests were still running when server.shutdown_timeout passed; they were cut off")
	}
	return err
}
