package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"healthcare/app/store"
)

// auditCommand is `healthcare audit verify`: walk the audit trail's hash chain.
func auditCommand(a Assets, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check the audit trail",
		Args:  cobra.NoArgs,
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Walk the audit trail's hash chain and report the first break (exit 1)",
		Long: "verify first seals the rows not sealed yet, then recomputes the chain oldest first: every seal's hash\n" +
			"from the seal before it and the content of each of its rows (older rows: row by row). It reports the\n" +
			"first row or seal whose rows were changed, removed or inserted outside the application's path.\n" +
			"It works while the server runs and without it. Exit 0: the chain holds; 1: it is broken.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, a)
			if err != nil {
				return err
			}
			return withAdminStore(cfg, stderr, func(ctx context.Context, st *store.Store) error {
				v, brk, err := st.VerifyAudit(ctx)
				if err != nil {
					return fmt.Errorf("cannot read the audit trail: %w", err)
				}
				if brk != nil {
					where := fmt.Sprintf("row %d", brk.Seq)
					if brk.Seal > 0 {
						where = fmt.Sprintf("seal %d (from row %d)", brk.Seal, brk.Seq)
					}
					return fmt.Errorf("the audit trail is broken at %s: %s (%d rows before it verified)", where, brk.Reason, v.Rows)
				}
				fmt.Fprintf(stdout, "audit trail verified: %d rows in %d seals, the chain holds", v.Rows, v.Seals)
				if v.Pending > 0 {
					fmt.Fprintf(stdout, " (%d rows of transactions still running are sealed later)", v.Pending)
				}
				fmt.Fprintln(stdout)
				return nil
			})
		},
	}
	cmd.AddCommand(verify)
	return cmd
}

// auditCLI records an account change made from the command line (no request: the actor is the
// operator at the machine).
func auditCLI(ctx context.Context, st *store.Store, action string, userID int64) error {
	id := userID
	return st.AppendAudit(ctx, store.AuditEvent{Username: "(command line)", Action: action, Resource: "user",
		ResourceID: fmt.Sprint(id), Status: 200, Address: "local"})
}
