package importer

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// session is the import's transaction here, logging each statement's time at debug level
// (--log-level debug): where an import of a large original spends its time.
type session struct {
	pgx.Tx
	log *slog.Logger
}

func (s *session) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	begin := time.Now()
	tag, err := s.Tx.Exec(ctx, sql, args...)
	s.log.Debug("import statement", "took", time.Since(begin).Round(time.Millisecond).String(),
		"rows", tag.RowsAffected(), "sql", summary(sql))
	return tag, err
}

// summary is the first words of a statement, on one line.
func summary(sql string) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
