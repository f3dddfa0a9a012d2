// Package cli is the command line: serve (the default), migrate, backup, restore, upgrade-postgres,
// admin, import, audit, config, healthcheck and version.
package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"healthcare/app/config"
)

// Version, Commit and BuildDate describe the build; release builds (go run ./release, the image)
// set them with -ldflags "-X healthcare/app/cli.Version=1.2.3 -X ...Commit=... -X ...BuildDate=...".
var (
	Version   = "dev"
	Commit    = ""
	BuildDate = ""
)

// Assets are the files embedded into the binary by package main.
type Assets struct {
	Defaults []byte // config.yaml: the default configuration
	UI       fs.FS  // the admin UI; nil in a no_ui build
}

// Exit codes.
const (
	exitFailure = 1 // the program could not do its job (database down, port taken...)
	exitConfig  = 2 // the configuration or the command line is wrong
)

// exitError carries a one-sentence message and the exit code to use.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func configError(err error) error { return &exitError{code: exitConfig, err: err} }

// Run executes the command line args (without the program name) and returns the exit code.
func Run(args []string, a Assets) int {
	// Output may be a pipe that dies with its terminal (healthcare serve | tee log): a log write
	// then fails instead of killing the process (SIGPIPE) before PostgreSQL is stopped.
	signal.Ignore(syscall.SIGPIPE)
	profileHeap(false)
	return run(args, a, os.Stdin, os.Stdout, os.Stderr)
}

func run(args []string, a Assets, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(a, stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	code := exitFailure
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	} else if isUsageError(err) {
		code = exitConfig
	}
	fmt.Fprintf(stderr, "healthcare: %s\n", sentence(err.Error()))
	return code
}

// sentence makes an error message read as one sentence ending with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "failed."
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// isUsageError recognises cobra's command-line errors (unknown command or flag, bad flag value).
func isUsageError(err error) bool {
	m := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "invalid argument", "flag needs an argument", "accepts ", "required flag"} {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

func newRoot(a Assets, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "healthcare",
		Short: "Clinic backend: REST API and admin UI on an embedded or external PostgreSQL",
		Long: "healthcare serves the clinic REST API and admin UI. With no configuration it runs its own\n" +
			"PostgreSQL in the data directory; with --database-url it uses yours.\n\n" +
			"Configuration: embedded defaults < --config FILE (or ./config.yaml) < .env < HEALTHCARE_* environment < flags.\n" +
			"Run 'healthcare config' to see the effective settings.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd, a, stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	config.AddFlags(root.PersistentFlags())
	serveCmd := &cobra.Command{
		Use:   "serve",
		Short: "Start the server (the default command)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return serve(cmd, a, stderr) },
	}
	for _, c := range []*cobra.Command{root, serveCmd} {
		c.Flags().String(pprofFlag, "", "serve Go's profiler (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060")
	}

	root.AddCommand(
		serveCmd,
		migrateCommand(a, stdout, stderr),
		backupCommand(a, stdout, stderr),
		restoreCommand(a, stdout, stderr),
		upgradePostgresCommand(a, stdout, stderr),
		adminCommand(a, stdin, stdout, stderr),
		importCommand(a, stdout, stderr),
		auditCommand(a, stdout, stderr),
		&cobra.Command{
			Use:   "config",
			Short: "Print the effective configuration as YAML, secrets redacted",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return printConfig(cmd, a, stdout) },
		},
		&cobra.Command{
			Use:   "healthcheck",
			Short: "Exit 0 when the server answers /readyz (Docker HEALTHCHECK): at --addr when given, else where the data directory's server listens, else at server.addr",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return healthcheck(cmd, a) },
		},
		&cobra.Command{
			Use:   "version",
			Short: "Print the version, commit, build date, Go version and the PostgreSQL inside (release builds)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				fmt.Fprint(stdout, versionText())
				return nil
			},
		},
	)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return configError(err) })
	return root
}

// loadConfig reads every configuration source; its errors are configuration errors (exit 2).
func loadConfig(cmd *cobra.Command, a Assets) (*config.Config, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("cannot read the working directory: %v", err)
	}
	cfg, err := config.Load(config.Sources{Defaults: a.Defaults, Flags: cmd.Flags(), Environ: os.Environ(), WorkDir: wd})
	if err != nil {
		return nil, configError(err)
	}
	return cfg, nil
}

// newLogger builds the slog logger: text on a terminal, JSON otherwise (or as log.format says).
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	switch cfg.Log.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.Log.Format
	if format == "auto" || format == "" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
