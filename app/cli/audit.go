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
		Long: "verify recomputes every audit row's hash from its content and the row before it, oldest first,\n" +
			"and reports the first row that was changed, removed or inserted outside the application's path.\n" +
			"It works while the server runs and without it. Exit 0: the chain holds; 1: it is broken.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, a)
			if err != nil {
				return err
			}
			return withAdminStore(cfg, stderr, func(ctx context.Context, st *store.Store) error {
				n, brk, err := st.VerifyAudit(ctx)
				if err != nil {
					return fmt.Errorf("cannot read the audit trail: %w", err)
				}
				if brk != nil {
					return fmt.Errorf("the audit trail is broken at row %d: %s (%d rows before it verified)", brk.Seq, brk.Reason, n)
				}
				fmt.Fprintf(stdout, "audit trail verified: %d rows, the chain holds\n", n)
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
