package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"healthcare/app/auth"
	"healthcare/app/config"
	"healthcare/app/database"
	"healthcare/app/store"
)

// adminCommand is `healthcare admin create|reset-password|list`: the administrators' accounts from
// the command line, beside a running server or on its own.
func adminCommand(a Assets, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Create administrators, reset passwords, list administrators",
		Long: "admin manages accounts from the command line: the first administrator, and a way back in for one\n" +
			"who lost their password. It works while the server runs (through its embedded PostgreSQL) and\n" +
			"without it. Passwords are read from the terminal without echo, or else from the first line of\n" +
			"standard input; never from a flag.",
		Args: cobra.NoArgs,
	}
	var username, email string
	create := &cobra.Command{
		Use:   "create --username NAME --email ADDRESS",
		Short: "Create an administrator (password from the terminal or standard input)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return adminCreate(cmd, a, username, email, stdin, stdout, stderr)
		},
	}
	create.Flags().StringVar(&username, "username", "", "the administrator's username (required)")
	create.Flags().StringVar(&email, "email", "", "the administrator's email address (required)")
	_ = create.MarkFlagRequired("username")
	_ = create.MarkFlagRequired("email")

	var mustChange bool
	reset := &cobra.Command{
		Use:   "reset-password USERNAME",
		Short: "Set an account's password (from the terminal or standard input); its logins end",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminResetPassword(cmd, a, args[0], mustChange, stdin, stdout, stderr)
		},
	}
	reset.Flags().BoolVar(&mustChange, "must-change", false, "make the account choose its own password at its next sign-in")

	var all bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the administrators (--all: every account)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return adminList(cmd, a, all, stdout, stderr)
		},
	}
	list.Flags().BoolVar(&all, "all", false, "list every account, not only administrators")
	cmd.AddCommand(create, reset, list)
	return cmd
}

func adminCreate(cmd *cobra.Command, a Assets, username, email string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(cmd, a)
	if err != nil {
		return err
	}
	password, err := readPassword(stdin, stderr, "Password for "+username+": ", true)
	if err != nil {
		return err
	}
	n, err := auth.NewAccount(cfg, username, email, password)
	if err != nil {
		return configError(fmt.Errorf("cannot create the administrator: %v", err))
	}
	n.Role = store.RoleAdmin
	return withAdminStore(cfg, stderr, func(ctx context.Context, st *store.Store) error {
		u, err := st.CreateUser(ctx, n)
		switch store.UniqueViolation(err) {
		case store.UsersUsernameKey:
			return fmt.Errorf("an account named %q exists already: reset its password with 'healthcare admin reset-password %s', or choose another username", n.Username, n.Username)
		case store.UsersEmailKey:
			return fmt.Errorf("an account with the email address %s exists already: choose another one", n.Email)
		}
		if err != nil {
			return err
		}
		if err := auditCLI(ctx, st, "create", u.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "administrator %s created (id %d); sign in at the server's address\n", u.Username, u.ID)
		return nil
	})
}

func adminResetPassword(cmd *cobra.Command, a Assets, username string, mustChange bool, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(cmd, a)
	if err != nil {
		return err
	}
	password, err := readPassword(stdin, stderr, "New password for "+username+": ", true)
	if err != nil {
		return err
	}
	return withAdminStore(cfg, stderr, func(ctx context.Context, st *store.Store) error {
		u, err := st.UserByUsername(ctx, auth.NormalizeUsername(username))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("there is no account named %q: 'healthcare admin list --all' lists them", username)
		}
		if err != nil {
			return err
		}
		if msgs := auth.ValidatePassword(password, u.Username, u.Email); len(msgs) > 0 {
			return configError(fmt.Errorf("the password is refused: %s", strings.Join(msgs, " ")))
		}
		hash, err := auth.HashWith(cfg, password)
		if err != nil {
			return err
		}
		if _, err := st.UpdateUser(ctx, u.ID, store.UserChanges{PasswordHash: &hash, MustChangePassword: &mustChange}); err != nil {
			return err
		}
		if err := st.ClearLoginLimits(ctx, auth.BucketName(u.Username)); err != nil {
			return err
		}
		if err := auditCLI(ctx, st, "password_changed", u.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; every login of the account ended\n", u.Username)
		if !u.IsActive {
			fmt.Fprintf(stdout, "note: %s is deactivated; an administrator can reactivate it\n", u.Username)
		}
		return nil
	})
}

func adminList(cmd *cobra.Command, a Assets, all bool, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(cmd, a)
	if err != nil {
		return err
	}
	return withAdminStore(cfg, stderr, func(ctx context.Context, st *store.Store) error {
		q := store.ListQuery{Limit: 1000, Filters: map[string]string{}}
		if !all {
			q.Filters["role"] = string(store.RoleAdmin)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tROLE\tACTIVE\tLAST LOGIN")
		total := 0
		for {
			users, _, err := st.ListUsers(ctx, q)
			if err != nil {
				return err
			}
			for _, u := range users {
				last := "never"
				if u.LastLogin != nil {
					last = u.LastLogin.Local().Format("2006-01-02 15:04")
				}
				active := "yes"
				if !u.IsActive {
					active = "no"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, u.Email, u.Role, active, last)
			}
			total += len(users)
			if len(users) < q.Limit {
				break
			}
			q.Offset += q.Limit
		}
		if total == 0 {
			if all {
				fmt.Fprintln(stdout, "no accounts yet")
			} else {
				fmt.Fprintln(stdout, "no administrators yet: create one with 'healthcare admin create --username NAME --email ADDRESS'")
			}
			return nil
		}
		return tw.Flush()
	})
}

// withAdminStore runs fn on a store of the configured database: the embedded PostgreSQL of a
// running server (found through the data directory's lock file), or else the database opened for
// this command alone, its schema brought up to date as serve would (a backup first).
func withAdminStore(cfg *config.Config, stderr io.Writer, fn func(ctx context.Context, st *store.Store) error) error {
	log := newLogger(cfg, stderr)
	if err := prepare(cfg, false, log); err != nil {
		return err
	}
	if cfg.EmbeddedMode() {
		url, owner, ok, err := database.RunningURL(cfg.DataDir, cfg.Embedded.Database)
		if err != nil {
			return err
		}
		if ok {
			log.Info("using the embedded PostgreSQL of the running server", "pid", owner.PID, "command", owner.Command)
			return besideServer(url, owner, cfg, log, fn)
		}
	}
	ctx, stop, db, err := connectPrepared(cfg, "admin", log)
	if err != nil {
		return err
	}
	defer stop()
	defer db.Close()
	if _, err := database.Migrate(ctx, db.Pool, database.MigrateOptions{Log: log, BeforeUpgrade: beforeUpgrade(cfg, db, log)}); err != nil {
		return err
	}
	if err := fn(ctx, store.New(db.Pool, cfg.Database.QueryTimeout)); err != nil {
		return err
	}
	return db.Close()
}

// besideServer runs fn on the running server's database, which must have this release's schema.
func besideServer(url string, owner database.LockInfo, cfg *config.Config, log *slog.Logger, fn func(context.Context, *store.Store) error) error {
	ctx := context.Background()
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return err
	}
	pcfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("cannot connect to the embedded PostgreSQL of the running server (pid %d): %v", owner.PID, err)
	}
	defer pool.Close()
	version, err := database.SchemaVersion(ctx, pool)
	if err != nil {
		return fmt.Errorf("cannot connect to the embedded PostgreSQL of the running server (pid %d): %v", owner.PID, err)
	}
	if version != database.LatestVersion() {
		return fmt.Errorf("the running server (pid %d) uses schema version %d and this release %d: run this command with the server's own release, or stop the server and try again", owner.PID, version, database.LatestVersion())
	}
	return fn(ctx, store.New(pool, cfg.Database.QueryTimeout))
}

// readPassword reads a password: from the terminal without echo (twice when confirm), or else the
// first line of stdin (a pipe or a file, e.g. a Docker secret).
func readPassword(stdin io.Reader, stderr io.Writer, prompt string, confirm bool) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("cannot read the password from the terminal: %v", err)
		}
		if confirm {
			fmt.Fprint(stderr, "Again: ")
			again, err := term.ReadPassword(fd)
			fmt.Fprintln(stderr)
			if err != nil {
				return "", fmt.Errorf("cannot read the password from the terminal: %v", err)
			}
			if string(again) != string(b) {
				return "", configError(errors.New("the two passwords differ; nothing was changed"))
			}
		}
		if len(b) == 0 {
			return "", configError(errors.New("the password is empty; nothing was changed"))
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("cannot read the password from standard input: %v", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", configError(errors.New("no password: type it on a terminal, or give it as the first line of standard input (e.g. healthcare admin create ... < password-file)"))
	}
	return password, nil
}
