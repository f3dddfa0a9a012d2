// Administrators: the audit trail ("Activity"): who did what, when, to which record, with what
// outcome, newest first. The filters live in the URL hash like the other lists; "Export CSV" saves
// every row they select. The rows hold no patient field values: a patient is named by id only.
import { useState, useEffect } from '../vendor/preact-htm/standalone.module.js';
import { api, apiBlob } from './api.js';
import { html, navigate, withQuery, usePageTitle, useLoad, Loading, ErrorState, Empty, Pagination } from './ui.js';
import { SearchBox, PageSize, PAGE_SIZES } from './list.js';

// The API's actions (auditActions in app/api/audit_views.go), as people say them.
const ACTIONS = [
  ['read', 'Read'],
  ['list', 'Listed'],
  ['search', 'Searched'],
  ['create', 'Created'],
  ['update', 'Changed'],
  ['delete', 'Deleted'],
  ['assign', 'Assigned'],
  ['unassign', 'Unassigned'],
  ['login', 'Signed in'],
  ['login_failed', 'Sign-in failed'],
  ['logout', 'Signed out'],
  ['refresh', 'Sign-in renewed'],
  ['refresh_reuse_detected', 'Old sign-in token reused'],
  ['password_changed', 'Password changed'],
  ['register', 'Registered'],
  ['setup', 'First-run setup'],
  ['logout_everywhere', 'Signed out everywhere'],
  ['export', 'Exported'],
];

// The resources the server records (auditSpec.Resource in app/api).
const RESOURCES = [
  ['patient', 'Patient'],
  ['patient_doctors', "Patient's doctors"],
  ['assignment', 'Assignment'],
  ['doctor', 'Doctor'],
  ['user', 'Account'],
  ['session', 'Sign-in'],
  ['settings', 'Settings'],
  ['backup', 'Backup'],
  ['audit', 'Audit trail'],
];

const label = (pairs, v) => (pairs.find(([k]) => k === v) || [v, v])[1];
export const actionLabel = (a) => label(ACTIONS, a);
export const resourceLabel = (r) => label(RESOURCES, r);

/** The HTTP status the request ended with, in words (0: a command-line action, no request). */
export function outcome(status) {
  if (!status) return '—';
  if (status < 400) return `Done (${status})`;
  if (status === 401 || status === 403) return `Refused (${status})`;
  if (status === 404) return 'Not found (404)';
  if (status < 500) return `Rejected (${status})`;
  return `Failed (${status})`;
}

/** A moment in local time, to the second; the exact UTC time is in datetime and the tooltip. */
export function When({ at }) {
  const d = new Date(at);
  const text = isNaN(d) ? at : d.toLocaleString([], { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return html`<time datetime=${at} title=${at}>${text}</time>`;
}

/** Who acted: the username at the time (an attempted one for a failed sign-in), else the id. */
export const who = (r) => r.username || (r.user_id ? `user ${r.user_id}` : 'nobody signed in');

const FILTERS = ['actor', 'action', 'resource', 'patient', 'from', 'to'];

/**
 * A datetime-local value ("2025-03-01T09:30", the browser's local time) as the API's RFC 3339 UTC
 * time. `to` is inclusive on screen but the API's until is excluded: a "to 09:30" asks until 09:31.
 */
function apiTime(local, inclusiveEnd) {
  const d = local ? new Date(local) : null;
  if (!d || isNaN(d)) return '';
  if (inclusiveEnd) d.setMinutes(d.getMinutes() + 1);
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const apiQuery = (f) => ({
  actor: f.actor.trim(), action: f.action, resource: f.resource, patient: f.patient,
  since: apiTime(f.from), until: apiTime(f.to, true),
});

/** The filters and page from the route; go() writes changes back (replacing the history entry). */
function useActivityParams(route) {
  const q = route.query;
  const f = Object.fromEntries(FILTERS.map((k) => [k, q.get(k) || '']));
  const offset = Math.max(0, parseInt(q.get('offset') || '0', 10) || 0);
  const limit = PAGE_SIZES.includes(Number(q.get('limit'))) ? Number(q.get('limit')) : PAGE_SIZES[0];
  const go = (changes, replace = true) => {
    const p = { ...f, offset, limit, ...changes };
    navigate(withQuery('/activity', { ...p, limit: p.limit === PAGE_SIZES[0] ? '' : p.limit }), { replace });
  };
  return { f, offset, limit, go };
}

function What({ r }) {
  const patient = r.patient_id ? html`<a href=${`#/patients/${r.patient_id}`}>patient ${r.patient_id}</a>` : null;
  // A patient's own record: the resource is the patient, named once (as the link).
  if (patient && r.resource === 'patient' && String(r.resource_id) === String(r.patient_id)) return html`<span class="wrap">${patient}</span>`;
  return html`<span class="wrap">${resourceLabel(r.resource)}${r.resource_id ? ` ${r.resource_id}` : ''}${r.count !== null && r.count !== undefined ? ` (${r.count} row${r.count === 1 ? '' : 's'})` : ''}${patient ? html` · ${patient}` : null}</span>`;
}

export function Activity({ route }) {
  usePageTitle('Activity');
  const { f, offset, limit, go } = useActivityParams(route);
  const load = useLoad(() => api('GET', '/api/admin/audit/', { query: { ...apiQuery(f), limit, offset } }), [...FILTERS.map((k) => f[k]), limit, offset]);
  const rows = load.value ? load.value.data || [] : [];
  const total = load.value ? load.value.total : null;
  const filtered = FILTERS.some((k) => f[k]);
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState(null);

  // A page past the end (the filters changed under it): step back to the last page with rows.
  useEffect(() => {
    if (!load.loading && !load.error && rows.length === 0 && offset > 0) go({ offset: Math.max(0, offset - limit) });
  }, [load.loading, rows.length]);

  // The export needs this login's token, which a plain link cannot send: fetch it, then save it.
  async function exportCSV() {
    setExporting(true);
    setExportError(null);
    try {
      const blob = await apiBlob(withQuery('/api/admin/audit/export/', apiQuery(f)));
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `audit-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, '')}Z.csv`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      setExportError(err);
    } finally {
      setExporting(false);
    }
  }

  const set = (k) => (v) => go({ [k]: v, offset: 0 });
  const onChange = (k) => (e) => set(k)(e.currentTarget.value);
  return html`<main id="main" class="container" aria-labelledby="page-title">
    <div class="page-head">
      <h1 id="page-title" tabindex="-1">Activity</h1>
      <div class="head-actions">
        <button type="button" class="secondary" id="export-csv" disabled=${exporting} aria-busy=${exporting ? 'true' : 'false'}
          onClick=${exportCSV}>Export CSV</button>
      </div>
    </div>
    <p class="muted lead">Every access to patient data, every change, sign-in and administrator's action, newest first. Times are this computer's local time.</p>
    ${exportError ? html`<div class="form-error" role="alert" id="export-error"><p>${exportError.message}</p></div>` : null}
    <search><form class="filters" id="activity-filters" aria-label="Filter the activity" onSubmit=${(e) => e.preventDefault()}>
      <${SearchBox} id="activity-actor" label="Who" placeholder="Username or id" value=${f.actor} onSearch=${set('actor')} />
      <div class="field">
        <label for="activity-action">Action</label>
        <select id="activity-action" value=${f.action} onChange=${onChange('action')}>
          <option value="">Any action</option>
          ${ACTIONS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="activity-resource">On</label>
        <select id="activity-resource" value=${f.resource} onChange=${onChange('resource')}>
          <option value="">Anything</option>
          ${RESOURCES.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="activity-patient">Patient id</label>
        <input id="activity-patient" type="number" min="1" step="1" inputmode="numeric" autocomplete="off" value=${f.patient}
          onChange=${onChange('patient')} />
      </div>
      <div class="field time-field">
        <label for="activity-from">From</label>
        <input id="activity-from" type="datetime-local" value=${f.from} onChange=${onChange('from')} />
      </div>
      <div class="field time-field">
        <label for="activity-to">To (included)</label>
        <input id="activity-to" type="datetime-local" value=${f.to} onChange=${onChange('to')} />
      </div>
      <${PageSize} id="activity-page-size" value=${limit} onChange=${(n) => go({ limit: n, offset: 0 })} />
      ${filtered ? html`<div class="field clear-field">
          <button type="button" class="secondary outline" id="clear-filters"
            onClick=${() => go({ ...Object.fromEntries(FILTERS.map((k) => [k, ''])), offset: 0 })}>Clear filters</button>
        </div>` : null}
    </form></search>
    <div class="results" aria-busy=${load.loading ? 'true' : 'false'}>
      ${load.error
        ? html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`
        : load.loading && !load.value
          ? html`<${Loading} label="Loading the activity…" />`
          : rows.length === 0
            ? filtered
              ? html`<${Empty} title="No activity matches"><p>Nothing recorded matches these filters.</p></${Empty}>`
              : html`<${Empty} title="Nothing recorded yet"><p>Accesses, changes and sign-ins appear here as they happen.</p></${Empty}>`
            : html`<table class="data-table" id="activity-table">
                <caption class="visually-hidden">Activity, newest first${total !== null ? `, ${total} in all` : ''}</caption>
                <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">What</th>
                  <th scope="col">Outcome</th><th scope="col">Client address</th></tr></thead>
                <tbody>
                  ${rows.map((r) => html`<tr key=${r.seq}>
                    <td data-label="When" class="primary-cell nowrap"><${When} at=${r.at} /></td>
                    <td data-label="Who" class="wrap">${r.user_id ? html`<a href=${`#/users/${r.user_id}`}>${who(r)}</a>` : who(r)}</td>
                    <td data-label="Action">${actionLabel(r.action)}</td>
                    <td data-label="What"><${What} r=${r} /></td>
                    <td data-label="Outcome" class=${r.status >= 400 ? 'refused' : ''}>${outcome(r.status)}</td>
                    <td data-label="Client address" class="wrap">${r.client_address}</td>
                  </tr>`)}
                </tbody>
              </table>
              <${Pagination} label="Activity pages" offset=${offset} limit=${limit} count=${rows.length} total=${total}
                hasNext=${load.value && load.value.next} onPage=${(o) => go({ offset: o }, false)} />`}
    </div>
  </main>`;
}
