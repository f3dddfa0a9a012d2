//go:build !no_ui

package web

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// TestE2EActivity (issue 11): the audit trail's screens. An administrator opens Activity from the
// Admin menu and finds what a staff member did (a patient created and read), filters by action,
// who, patient and time, pages, and exports the filtered rows as CSV; a staff member has no
// Activity link and the route is not found for her. A patient's page shows its access history to
// an administrator and, with owner visibility, to the owner ("Show more" down to the creation);
// with clinic visibility the staff member's page does not even ask for it.
func TestE2EActivity(t *testing.T) {
	if os.Getenv("HEALTHCARE_E2E_BASE_URL") != "" {
		t.Skip("needs its own server (HEALTHCARE_E2E_BASE_URL is set)")
	}
	br := findBrowser(t)
	base, stop := startServer(t, "HEALTHCARE_ADMIN_USERNAME=boss", "HEALTHCARE_ADMIN_PASSWORD="+password)
	defer stop()
	e := newSession(t, br, base)

	// ---- what the trail will hold: sam adds Olive and reads her 24 times; boss adds and reads Abe ----
	e.apiRegister("sam")
	sam := e.apiLogin("sam")
	boss := e.apiLogin("boss")
	newPatient := func(token, name, phone string) string {
		var out map[string]any
		e.apiJSON("POST", "/api/patients/", token, map[string]any{"name": name, "age": 41, "gender": "F",
			"address": "3 Trail Road", "phone_number": phone}, 201, &out)
		return fmt.Sprint(out["id"])
	}
	olive := newPatient(sam, "Olive Owner", "5550101")
	abe := newPatient(boss, "Abe Admin", "5550102")
	for range 24 {
		e.apiJSON("GET", "/api/patients/"+olive+"/", sam, nil, 200, nil)
	}
	e.apiJSON("GET", "/api/patients/"+abe+"/", boss, nil, 200, nil)
	// Reads are written by a background writer: wait until they are all in the trail.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var rows []map[string]any
		e.apiJSON("GET", "/api/admin/audit/?action=read&limit=100", boss, nil, 200, &rows)
		if len(rows) >= 25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trail holds %d reads after 15 s, want 25", len(rows))
		}
	}

	// ---- staff: no Activity link, and the route is not there for her ----
	c := newSession(t, br, base)
	c.signIn("sam")
	if got := c.eval(`String(document.querySelectorAll('#admin-menu, a[href^="#/activity"]').length)`); got != "0" {
		t.Errorf("staff sees %s Activity or admin links, want none", got)
	}
	c.do(chromedp.Navigate(base + "/#/activity"))
	c.waitText("#page-title", "Page not found")

	// ---- the administrator opens Activity from the Admin menu ----
	e.signIn("boss")
	e.click("#admin-menu")
	e.click(`#admin-nav a[href="#/activity"]`)
	e.waitText("#page-title", "Activity")
	e.waitVisible("#activity-table")
	e.waitVisible(`#activity-table a[href="#/patients/` + olive + `"]`) // sam's reads name Olive by id, as a link
	e.waitText("#activity-table", "sam")
	at := e.eval(`(() => { const t = document.querySelector('#activity-table time'); return t.getAttribute('datetime') + '|' + t.title; })()`)
	if dt, title, _ := strings.Cut(at, "|"); dt != title {
		t.Errorf("time element: datetime %q, title %q, want both the full time", dt, title)
	} else if _, err := time.Parse(time.RFC3339Nano, dt); err != nil {
		t.Errorf("time element's datetime %q: %v", dt, err)
	}
	e.shot("40-activity")

	// ---- filter by action, then by who: only sam's creation is left; a reload keeps the filters ----
	cells := func(label string) string {
		return fmt.Sprintf(`[...document.querySelectorAll('#activity-table td[data-label="%s"]')].map((td) => td.textContent.trim())`, label)
	}
	e.selectValue("#activity-action", "create")
	e.waitFor(`location.hash.includes('action=create')`, "the action in the address")
	e.waitFor(`(() => { const a = `+cells("Action")+`; return a.length >= 2 && a.every((s) => s === 'Created'); })()`, "only Created rows (sam's and boss's)")
	e.set("#activity-actor", "sam")
	e.waitFor(`location.hash.includes('actor=sam')`, "who in the address")
	e.waitFor(`(() => { const w = `+cells("Who")+`; return w.length === 1 && w[0] === 'sam'; })()`, "only sam's creation")
	e.waitVisible(`#activity-table a[href="#/patients/` + olive + `"]`)
	e.do(chromedp.Reload())
	e.waitFor(`(() => { const w = `+cells("Who")+`; return w.length === 1 && w[0] === 'sam'; })()`, "the filtered row after a reload")
	if got := e.value("#activity-action") + " " + e.value("#activity-actor"); got != "create sam" {
		t.Errorf("filters after a reload = %q, want create sam", got)
	}

	// ---- export the filtered rows: the CSV holds sam's creation and nothing else ----
	downloads := t.TempDir()
	if _, err := chromedp.Call(e.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	e.click("#export-csv")
	var file string
	for deadline := time.Now().Add(15 * time.Second); file == ""; time.Sleep(200 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(downloads, "audit-*.csv")); len(m) == 1 {
			file = m[0]
		} else if time.Now().After(deadline) {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("no CSV downloaded after 15 s (folder: %v; export error: %q)", entries, e.eval(`(document.getElementById('export-error') || {}).textContent || ''`))
		}
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatalf("the export is not CSV: %v", err)
	}
	header := []string{"seq", "at", "user_id", "username", "action", "resource", "resource_id", "patient_id",
		"count", "filters", "status", "client_address", "request_id", "user_agent"}
	if len(records) != 2 || !slices.Equal(records[0], header) {
		t.Fatalf("export = %q, want the header and sam's one creation", records)
	}
	if r := records[1]; r[3] != "sam" || r[4] != "create" || r[5] != "patient" || r[7] != olive || r[10] != "201" {
		t.Errorf("exported row = %q, want sam's creation of patient %s (201)", r, olive)
	}

	// ---- one patient's rows; times: from an hour ahead nothing, up to an hour ago nothing ----
	e.click("#clear-filters")
	e.waitFor(`!location.hash.includes('?')`, "no filters in the address")
	e.set("#activity-patient", olive)
	e.waitFor(`location.hash.includes('patient=`+olive+`')`, "the patient in the address")
	e.waitFor(`(() => { const w = `+cells("What")+`; return w.length > 0 && w.every((s) => s.includes('patient `+olive+`')); })()`, "only Olive's rows")
	localTime := func(offset string) string { // a datetime-local value in the browser's time zone
		return e.eval(`(() => { const d = new Date(Date.now() + (` + offset + `)); const p = (n) => String(n).padStart(2, '0');
			return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()); })()`)
	}
	e.set("#activity-from", localTime("3600e3"))
	e.waitText("#main .empty-state", "No activity matches")
	e.shot("41-activity-none-match")
	e.set("#activity-from", localTime("-3600e3"))
	e.waitVisible("#activity-table")
	e.set("#activity-from", "")
	e.set("#activity-to", localTime("-3600e3"))
	e.waitText("#main .empty-state", "No activity matches")
	e.set("#activity-to", localTime("0")) // this minute is included
	e.waitVisible("#activity-table")

	// ---- pages of 20, newest first ----
	filteredRange := e.eval(`document.querySelector('.pagination .range').textContent`)
	e.click("#clear-filters")
	e.waitFor(`!location.hash.includes('?')`, "no filters in the address")
	// The filtered rows stay on screen until the others arrive: wait for the whole trail's count.
	e.waitFor(`(() => { const r = document.querySelector('.pagination .range').textContent; return r.includes('1–20 of') && r !== `+jsString(filteredRange)+`; })()`, "the whole trail")
	times := func() []time.Time {
		var out []time.Time
		for _, s := range strings.Split(e.eval(`[...document.querySelectorAll('#activity-table time')].map((t) => t.getAttribute('datetime')).join(' ')`), " ") {
			tm, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatalf("row time %q: %v", s, err)
			}
			out = append(out, tm)
		}
		return out
	}
	first := times()
	firstAt := e.eval(`document.querySelector('#activity-table time').getAttribute('datetime')`)
	if len(first) != 20 {
		t.Fatalf("page 1 has %d rows, want 20", len(first))
	}
	e.click(`.pagination .pager button:last-child`)
	e.waitFor(`location.hash.includes('offset=20')`, "page 2 in the address")
	e.waitText(".pagination .range", "21–")
	// The range follows the address at once; the rows once page 2 has arrived.
	e.waitFor(`document.querySelector('.results').getAttribute('aria-busy') === 'false' && document.querySelector('#activity-table time').getAttribute('datetime') !== `+
		jsString(firstAt), "page 2's rows")
	second := times()
	// Newest first, within a second: the trail is in the order rows were written, and reads are
	// written in batches, a moment after the time they record.
	all := append(first, second...)
	for i := 1; i < len(all); i++ {
		if all[i].After(all[i-1].Add(time.Second)) {
			t.Errorf("rows are not newest first across pages: row %d at %s, row %d at %s", i, all[i-1], i+1, all[i])
		}
	}
	e.click(`.pagination .pager button:first-child`)
	e.waitText(".pagination .range", "1–20 of")

	// ---- the patient's page: access history for the administrator (his own patient here) ----
	e.do(chromedp.Navigate(base + "/#/patients/" + abe))
	e.waitText("#page-title", "Abe Admin")
	e.waitText("#access-table", "boss")
	e.waitText("#access-table", "Read · Patient")
	e.waitText("#access-table", "Created · Patient")
	e.shot("42-patient-access-history")

	// ---- and for the owner (owner visibility): sam's reads, "Show more" down to the creation ----
	c.do(chromedp.Navigate(base + "/#/patients/" + olive))
	c.waitText("#page-title", "Olive Owner")
	c.waitText("#access-table", "sam")
	c.waitFor(`document.querySelectorAll('#access-table tbody tr').length === 10`, "the first 10 accesses")
	if got := c.eval(`document.getElementById('access-table').textContent`); strings.Contains(got, "Created") {
		t.Errorf("the first 10 accesses include the creation, older than 24 reads: %s", got)
	}
	for i := 0; c.eval(`String(!!document.getElementById('access-more'))`) == "true"; i++ {
		if i == 5 {
			t.Fatal("Show more still there after 5 pages")
		}
		n := c.eval(`String(document.querySelectorAll('#access-table tbody tr').length)`)
		c.click("#access-more")
		c.waitFor(`document.querySelectorAll('#access-table tbody tr').length > `+n+` && !document.querySelector('#access-more[aria-busy="true"]')`, "older accesses")
	}
	c.waitText("#access-table", "Created · Patient")
	c.expectFocusOn("#access-history-title", "after the last Show more")
	seen := c.eval(`String(new Set([...document.querySelectorAll('#access-table time')].map((t) => t.getAttribute('datetime') + t.closest('tr').textContent)).size === document.querySelectorAll('#access-table tbody tr').length)`)
	if seen != "true" {
		t.Errorf("Show more repeats rows")
	}
	c.shot("43-owner-access-history")

	// ---- no sideways scrolling from 320 px on the new screens ----
	for _, w := range []int64{320, 360, 414, 600, 768, 1024} {
		for _, s := range []struct{ hash, ready string }{
			{"/activity", "#activity-table"},
			{"/activity?action=create&resource=patient", "#activity-table"},
			{"/patients/" + abe, "#access-table"},
		} {
			e.viewport(w, 740, w < 600)
			e.do(chromedp.Navigate(base + "/#" + s.hash))
			e.waitVisible(s.ready)
			time.Sleep(120 * time.Millisecond)
			if got := e.sideways(); got != "" {
				t.Errorf("%d px, #%s scrolls sideways: %s", w, s.hash, got)
			}
		}
	}
	e.viewport(viewports[0].width, viewports[0].height, false)

	// ---- clinic visibility: the history is for administrators only; staff pages do not ask ----
	e.apiJSON("PUT", "/api/admin/settings/", boss, map[string]string{"patients.visibility": "clinic", "registration": "closed"}, 200, nil)
	c.do(chromedp.Reload())
	c.waitText("#page-title", "Olive Owner")
	c.waitVisible("#assigned-doctors, #no-doctors")
	time.Sleep(500 * time.Millisecond)
	if got := c.eval(`String(!!document.getElementById('access-history')) + ' ' + performance.getEntriesByType('resource').filter((r) => r.name.includes('/audit/')).length`); got != "false 0" {
		t.Errorf("clinic visibility, staff: access history shown and requests to it = %s, want false 0", got)
	}
	if got := c.eval(`String(document.querySelectorAll('.form-error, .error-state').length)`); got != "0" {
		t.Errorf("clinic visibility, staff: %s error messages on the patient's page", got)
	}
	var staffHistory map[string]any
	c.apiJSON("GET", "/api/patients/"+olive+"/audit/", sam, nil, 403, &staffHistory) // what the page spared itself
	e.do(chromedp.Navigate(base + "/#/patients/" + olive))
	e.do(chromedp.Reload()) // the policies are read again
	e.waitText("#page-title", "Olive Owner")
	e.waitText("#access-table", "sam")
	if n, _ := strconv.Atoi(e.eval(`String(document.querySelectorAll('#access-table tbody tr').length)`)); n != 10 {
		t.Errorf("the administrator's first page of Olive's history has %d rows, want 10", n)
	}

	e.checkConsole()
	c.checkConsole()
}
