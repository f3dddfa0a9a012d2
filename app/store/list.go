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

// listPage runs "SELECT cols FROM from WHERE cond ORDER BY ... LIMIT OFFSET" and returns the total
// number of matching rows. A page that is not full tells the total by itself (offset + rows), so
// short lists cost one query; otherwise a separate count over countFrom (the tables cond needs)
// runs. Measured against count(*) OVER () in the page query: the window forces every matching row
// to be joined and materialised before LIMIT, ten times slower at 10,000 patients.
//
// A search (q.Search set) runs with custom plans (searchPlans), so that PostgreSQL sees the term
// and can use the trigram indexes.
func (s *Store) listPage(ctx context.Context, cols, from, countFrom, cond, order string, args sqlArgs, q ListQuery,
	scan func(rows pgx.Rows) error) (total int64, err error) {
	if q.Search == "" {
		return s.page(ctx, cols, from, countFrom, cond, order, args, q, scan)
	}
	err = s.searchPlans(ctx, func(st *Store) error {
		total, err = st.page(ctx, cols, from, countFrom, cond, order, args, q, scan)
		return err
	})
	return total, err
}

// beginSearch starts the transaction of a search outside one: one round trip for both statements
// (no arguments: the simple protocol), and one snapshot for the page and its count.
const beginSearch = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL plan_cache_mode = force_custom_plan"

// searchPlans runs fn with plan_cache_mode force_custom_plan. The pool's connections use generic
// plans (configurePool), which cannot know the search term: for "ILIKE $1" PostgreSQL assumes a
// fixed share of matching rows and, for a list ordered by id with a LIMIT, walks the primary key
// filtering every row (measured: the whole table for a term that matches nothing) instead of asking
// the trigram index (migration 0005). Planned with the term, the same statement uses the index for
// a rare term and the primary key for a common one, which finds its page at once. Outside a
// transaction fn runs in a read-only one of its own; inside one, the setting is put back after fn.
func (s *Store) searchPlans(ctx context.Context, fn func(st *Store) error) error {
	if s.tx == nil {
		return s.inTx(ctx, pgx.TxOptions{BeginQuery: beginSearch}, fn)
	}
	var prev string
	if err := s.db.QueryRow(ctx, `SELECT current_setting('plan_cache_mode'),
		set_config('plan_cache_mode', 'force_custom_plan', true)`).Scan(&prev, nil); err != nil {
		return err
	}
	if err := fn(s); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `SELECT set_config('plan_cache_mode', $1, true)`, prev)
	return err
}

// page is listPage's query (and count) on s.db.
func (s *Store) page(ctx context.Context, cols, from, countFrom, cond, order string, args sqlArgs, q ListQuery,
	scan func(rows pgx.Rows) error) (int64, error) {
	n := len(args)
	limit := args.add(q.Limit)
	offset := args.add(q.Offset)
	rows, err := s.db.Query(ctx, "SELECT "+cols+" FROM "+from+cond+order+" LIMIT "+limit+" OFFSET "+offset, args...)
	if err != nil {
		return 0, err
	}
	got := 0
	for rows.Next() {
		got++
		if err := scan(rows); err != nil {
			rows.Close()
			return 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if got > 0 && got < q.Limit || got == 0 && q.Offset == 0 {
		return int64(q.Offset + got), nil
	}
	var total int64
	if err := s.db.QueryRow(ctx, "SELECT count(*) FROM "+countFrom+cond, args[:n]...).Scan(&total); err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	return total, nil
}
