package importer

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Report is what an import did, or would do (DryRun), table by table.
type Report struct {
	DryRun     bool
	Tables     []*TableReport
	Collisions []Collision // non-empty: refused, nothing written
	NextIDs    []NextID    // where our ids continue (moved past the original's)
	Took       time.Duration
}

// TableReport is one of the original's tables.
type TableReport struct {
	Source   string  // the original's table (auth_user...)
	Target   string  // ours (users...)
	Read     int64   // rows in the original
	Imported int64   // rows written now (or that would be, in a dry run)
	Present  int64   // rows here already, from an earlier import: left as they are
	Skipped  []Issue // rows not imported, with the reason
	Changed  []Issue // rows imported with a change (a placeholder email, a password to set)
	Notes    []string
	Took     time.Duration // reading and writing this table
}

// Issue is one row and what happened to it.
type Issue struct {
	ID     int64
	Label  string // users: the username
	Reason string
}

// NextID is the next id our identity sequence of Table hands out after the import.
type NextID struct {
	Table string
	Next  int64
}

// Totals adds up the tables.
func (r *Report) Totals() (read, imported, present, skipped int64) {
	for _, t := range r.Tables {
		read += t.Read
		imported += t.Imported
		present += t.Present
		skipped += int64(len(t.Skipped))
	}
	return
}

// CollisionError refuses an import into a database whose rows collide with the original's.
type CollisionError struct{ Report *Report }

func (e *CollisionError) Error() string {
	return fmt.Sprintf("nothing was imported: %s with data already in this database (listed above); "+
		"import into a database that holds only what earlier imports of the same original brought, then start work here",
		collide(len(e.Report.Collisions)))
}

// collide is "1 row of the original collides" or "3 rows of the original collide".
func collide(n int) string {
	if n == 1 {
		return "1 row of the original collides"
	}
	return num(int64(n)) + " rows of the original collide"
}

// maxListed bounds the rows listed per reason and the collisions listed per table.
const maxListed = 20

// Write prints the report for a person: a line per table, then what was not imported and why,
// what was changed to import, and the totals.
func (r *Report) Write(w io.Writer) {
	if len(r.Collisions) > 0 {
		writeCollisions(w, r.Collisions)
		return
	}
	verb := "imported"
	if r.DryRun {
		verb = "would import"
	}
	fmt.Fprintln(w)
	for _, t := range r.Tables {
		fmt.Fprintf(w, "%-12s ← %-25s %9s read  %9s %s  %9s here already  %7s not imported  (%s)\n",
			t.Target, t.Source, num(t.Read), num(t.Imported), verb, num(t.Present), num(int64(len(t.Skipped))), seconds(t.Took))
	}
	for _, t := range r.Tables {
		if len(t.Skipped) > 0 {
			fmt.Fprintf(w, "\nNot imported from %s (%s):\n", t.Source, num(int64(len(t.Skipped))))
			writeGrouped(w, singular(t.Target), t.Skipped)
		}
	}
	for _, t := range r.Tables {
		if len(t.Changed) > 0 {
			fmt.Fprintf(w, "\nImported from %s with a change (%s):\n", t.Source, num(int64(len(t.Changed))))
			writeGrouped(w, singular(t.Target), t.Changed)
		}
	}
	var notes []string
	for _, t := range r.Tables {
		notes = append(notes, t.Notes...)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	if len(r.NextIDs) > 0 {
		var parts []string
		for _, n := range r.NextIDs {
			parts = append(parts, fmt.Sprintf("%s at %s", n.Table, num(n.Next)))
		}
		what := "New ids continue"
		if r.DryRun {
			what = "New ids would continue"
		}
		fmt.Fprintf(w, "\n%s past the original's: %s.\n", what, strings.Join(parts, ", "))
	}
	read, imported, present, skipped := r.Totals()
	if r.DryRun {
		fmt.Fprintf(w, "\nDry run, nothing was written: %s rows read, %s would be imported, %s here already, %s not imported (%s).\n",
			num(read), num(imported), num(present), num(skipped), seconds(r.Took))
		return
	}
	fmt.Fprintf(w, "\nDone in %s: %s rows read, %s imported, %s here already, %s not imported.\n",
		seconds(r.Took), num(read), num(imported), num(present), num(skipped))
}

func writeCollisions(w io.Writer, cs []Collision) {
	fmt.Fprintf(w, "\nRefused: %s with data already in this database:\n", collide(len(cs)))
	listed := map[string]int{}
	more := map[string]int{}
	var order []string
	for _, c := range cs {
		if listed[c.Table]+more[c.Table] == 0 {
			order = append(order, c.Table)
		}
		if listed[c.Table] >= maxListed {
			more[c.Table]++
			continue
		}
		listed[c.Table]++
		fmt.Fprintf(w, "  %s: %s\n", c.Table, c.Reason)
	}
	for _, t := range order {
		if more[t] > 0 {
			fmt.Fprintf(w, "  %s: … and %s more\n", t, num(int64(more[t])))
		}
	}
}

// writeGrouped prints issues with the same reason together: "patients 12, 13, 19: reason".
func writeGrouped(w io.Writer, noun string, issues []Issue) {
	byReason := map[string][]Issue{}
	var order []string
	for _, is := range issues {
		if _, ok := byReason[is.Reason]; !ok {
			order = append(order, is.Reason)
		}
		byReason[is.Reason] = append(byReason[is.Reason], is)
	}
	for _, reason := range order {
		list := byReason[reason]
		var s []string
		for i, is := range list {
			if i == maxListed {
				s = append(s, fmt.Sprintf("… (%s in all)", num(int64(len(list)))))
				break
			}
			id := strconv.FormatInt(is.ID, 10)
			if is.Label != "" {
				id += " (" + is.Label + ")"
			}
			s = append(s, id)
		}
		label := noun
		if len(list) > 1 {
			label += "s"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", label, strings.Join(s, ", "), reason)
	}
}

func singular(table string) string {
	if table == "assignments" {
		return "mapping" // the original's name, and its ids
	}
	return strings.TrimSuffix(table, "s")
}

// num writes n with thousands separators: 100,000.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
