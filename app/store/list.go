package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// sqlArgs collects query parameters and hands out their placeholders, so user input only ever
// travels as a parameter, never as SQL text.
type sqlArgs []any

// add appends v and returns its placeholder ($n).
func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// likePattern turns a search term into an ILIKE pattern that matches it anywhere, with LIKE's
// wildcards and escape character taken literally (the queries say ESCAPE '\').
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// searchClause is "(col1 ILIKE $n ESCAPE '\' OR col2 ...)" for a non-empty term, else "".
func searchClause(args *sqlArgs, term string, cols ...string) string {
	if term == "" {
		return ""
	}
	p := args.add(likePattern(term))
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c + " ILIKE " + p + ` ESCAPE '\'`
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// orderBy builds the ORDER BY clause from the store's own allow-list of API names → columns; ties
// are broken by idCol so pages are stable. A name missing from the list (the API validates names
// first) falls back to idCol.
func orderBy(q ListQuery, columns map[string]string, idCol string) string {
	col, ok := columns[q.Ordering]
	if !ok {
		col = idCol
	}
	dir := " ASC"
	if q.Descending {
		dir = " DESC"
	}
	if col == idCol {
		return " ORDER BY " + idCol + dir
	}
	return " ORDER BY " + col + dir + ", " + idCol + " ASC"
}

// where joins non-empty conditions with AND.
func where(conds ...string) string {
	var kept []string
	for _, c := range conds {
		if c != "" {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(kept, " AND ")
}

// listPage runs "SELECT cols, count(*) OVER () FROM from WHERE ... ORDER BY ... LIMIT OFFSET" and
// returns the total matching rows. The window count costs no second round trip; only a page past
// the end (no rows to carry the count) needs a separate count query.
func (s *Store) listPage(ctx context.Context, cols, from, cond, order string, args sqlArgs, q ListQuery,
	scan func(rows pgx.Rows, total *int64) error) (int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	limit := args.add(q.Limit)
	offset := args.add(q.Offset)
	sql := "SELECT " + cols + ", count(*) OVER () FROM " + from + cond + order + " LIMIT " + limit + " OFFSET " + offset
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	var total int64
	n := 0
	for rows.Next() {
		n++
		if err := scan(rows, &total); err != nil {
			rows.Close()
			return 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if n == 0 && q.Offset > 0 {
		err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+from+cond, args[:len(args)-2]...).Scan(&total)
		if err != nil {
			return 0, fmt.Errorf("count: %w", err)
		}
	}
	return total, nil
}
