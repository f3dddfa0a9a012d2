package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"healthcare/app/config"
	"healthcare/app/database"
	"healthcare/app/importer"
)

// importCommand is `healthcare import django [--from URL] [--dry-run]`.
func importCommand(a Assets, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import the data of another system (the original Django system: import django)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return configError(errors.New("say which system to import from: healthcare import django"))
		},
	}
	var from string
	var dryRun bool
	django := &cobra.Command{
		Use:   "django",
		Short: "Copy the original Django system's users, doctors, patients and assignments into this database",
		Long: "import django copies the original system's accounts (auth_user), doctors (api_doctor), patients\n" +
			"(api_patient) and doctor assignments (api_patientdoctormapping) into this program's database in\n" +
			"one transaction, keeping ids, owners, timestamps and passwords: users log in with the password\n" +
			"they had. It only reads the original's database.\n\n" +
			"The original's database is --from, else the original's own settings DB_NAME, DB_USER,\n" +
			"DB_PASSWORD, DB_HOST and DB_PORT from the environment or a .env file in the current directory.\n" +
			"The data goes where 'healthcare serve' keeps it: the embedded database (beside a running\n" +
			"server, or started for the import, created if need be) or database.url.\n\n" +
			"Rows this system cannot hold (usernames that differ only in case, a gender other than M, F, O...)\n" +
			"are listed with the reason and not imported, nor are the rows that need them; fix them in the\n" +
			"original and run the import again: rows imported before are recognised and left as they are.\n" +
			"The import is refused, with the list, if rows here take an id or a unique value of the original's.\n" +
			"--dry-run does all of it and writes nothing.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImport(cmd, a, from, dryRun, stdout, stderr)
		},
	}
	django.Flags().StringVar(&from, "from", "", "the original's database, postgres://USER:PASSWORD@HOST:PORT/DBNAME (default: its DB_* settings)")
	django.Flags().BoolVar(&dryRun, "dry-run", false, "report what the import would do, and write nothing")
	cmd.AddCommand(django)
	return cmd
}

func runImport(cmd *cobra.Command, a Assets, from string, dryRun bool, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(cmd, a)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	source := from
	if source == "" {
		// Read before dropping privileges, like the configuration: .env may be root's.
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("cannot read the working directory: %v", err)
		}
		env, err := config.Environment(wd, os.Environ())
		if err != nil {
			return configError(err)
		}
		var ok bool
		if source, ok = importer.SourceFromEnv(env); !ok {
			return configError(errors.New("say where the original system's database is: --from postgres://USER:PASSWORD@HOST:PORT/DBNAME, " +
				"or its DB_NAME (with DB_USER, DB_PASSWORD, DB_HOST, DB_PORT) in the environment or .env, as the original had them"))
		}
	}
	if err := prepare(cfg, false, log); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	conn, where, done, err := importTarget(ctx, cfg, log)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted while connecting to the database")
		}
		return err
	}
	defer done()

	verb := "Importing"
	if dryRun {
		verb = "Dry run (nothing is written): importing"
	}
	fmt.Fprintf(stdout, "%s from the original system's database %s into %s.\n", verb, importer.Describe(source), where)
	r, err := importer.Run(ctx, conn, importer.Options{Source: source, DryRun: dryRun, Progress: progressLines(stdout), Log: log})
	if r != nil {
		r.Write(stdout)
	}
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted: nothing was imported")
		}
		return err
	}
	read, imported, present, skipped := r.Totals()
	log.Info("import finished", "dry_run", dryRun, "read", read, "imported", imported, "present", present, "skipped", skipped,
		"took", r.Took.Round(time.Millisecond).String())
	return nil
}

// importTarget connects to this program's database for the import: the embedded one of a running
// server (which migrated it when it started); else the embedded one started here, created on first
// use and migrated as serve would, under the data directory's lock; else database.url, migrated.
// where names it for the user; done closes what was opened.
func importTarget(ctx context.Context, cfg *config.Config, log *slog.Logger) (conn *pgx.Conn, where string, done func(), err error) {
	if cfg.EmbeddedMode() {
		u, owner, ok, err := database.RunningURL(cfg.DataDir, cfg.Embedded.Database)
		if err != nil {
			return nil, "", nil, err
		}
		if ok {
			log.Info("using the embedded PostgreSQL of the running server", "pid", owner.PID, "command", owner.Command)
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			conn, err := pgx.Connect(cctx, u)
			if err != nil {
				return nil, "", nil, fmt.Errorf("cannot connect to the embedded PostgreSQL of the running server (pid %d): %v", owner.PID, err)
			}
			where = fmt.Sprintf("the embedded database in %s (of the server running as pid %d)", cfg.DataDir, owner.PID)
			return conn, where, func() { conn.Close(context.Background()) }, nil
		}
	}
	lock, err := lockDataDir(cfg, "import")
	if err != nil {
		return nil, "", nil, err
	}
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		lock.Release()
		return nil, "", nil, err
	}
	c, err := db.Pool.Acquire(ctx)
	if err != nil {
		db.Close()
		lock.Release()
		return nil, "", nil, fmt.Errorf("cannot connect to the database: %v", err)
	}
	where = "the embedded database in " + cfg.DataDir
	if !cfg.EmbeddedMode() {
		where = db.Info.URL
	}
	return c.Conn(), where, func() { c.Release(); db.Close(); lock.Release() }, nil
}

// progressLines shows each step on one line of a terminal, rewritten as it advances; elsewhere
// (a pipe, a log file) only the report is written.
func progressLines(w io.Writer) func(importer.Progress) {
	if !isTerminal(w) {
		return nil
	}
	return func(p importer.Progress) {
		fmt.Fprintf(w, "\r\033[K%s", p)
		if p.Finished {
			fmt.Fprintln(w)
		}
	}
}
