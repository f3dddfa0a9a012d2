// Administrators: the embedded database's backups: the list, "Back up now", downloads. With an
// external database (database.url) the server keeps none: the API says 409 and this says why.
import { useState } from '../vendor/preact-htm/standalone.module.js';
import { api, apiBlob } from './api.js';
import { html, notify, usePageTitle, useLoad, Loading, ErrorState, Empty } from './ui.js';

function size(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

const when = (s) => new Date(s).toLocaleString([], { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

export function Backups() {
  usePageTitle('Backups');
  const load = useLoad(async () => (await api('GET', '/api/admin/backups/')).data || [], []);
  const [busy, setBusy] = useState('');
  const [error, setError] = useState(null);
  const external = load.error && load.error.status === 409;

  async function backUpNow() {
    setBusy('now');
    setError(null);
    try {
      const r = await api('POST', '/api/admin/backups/');
      notify(`Backup written: ${r.data.name} (${size(r.data.size)}).`);
      load.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy('');
    }
  }

  // The download needs this login's token, which a plain link cannot send: fetch it, then save it.
  async function download(name) {
    setBusy(name);
    setError(null);
    try {
      const blob = await apiBlob(`/api/admin/backups/${encodeURIComponent(name)}`);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      setError(err);
    } finally {
      setBusy('');
    }
  }

  const rows = load.value || [];
  return html`<main id="main" class="container" aria-labelledby="page-title">
    <div class="page-head">
      <h1 id="page-title" tabindex="-1">Backups</h1>
      ${external ? null : html`<button type="button" id="backup-now" disabled=${!!busy || !load.value} aria-busy=${busy === 'now' ? 'true' : 'false'}
        onClick=${backUpNow}>Back up now</button>`}
    </div>
    ${external
      ? html`<div class="banner-info" role="status" id="backups-external">
          <p><strong>This server keeps no backups:</strong> it uses an external PostgreSQL database (<code>database.url</code>). Back that database up with its own tools (for example <code>pg_dump</code>) or your provider's backups.</p>
          ${load.error.message ? html`<p class="small-print">The server says: ${load.error.message}</p>` : null}
        </div>`
      : html`<p class="muted lead">Backups of the embedded database in the data directory's <code>backups/</code> folder, newest first. Restore one with <code>healthcare restore FILE --yes</code> while the server is stopped.</p>
        ${error ? html`<div class="form-error" role="alert" id="backup-error"><p>${error.message}</p></div>` : null}
        ${load.error
          ? html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`
          : !load.value
            ? html`<${Loading} label="Loading the backups…" />`
            : rows.length === 0
              ? html`<${Empty} title="No backups yet"><p>The server writes one on its schedule (<code>backup.schedule</code>); or back up now.</p></${Empty}>`
              : html`<table class="data-table" id="backups-table">
                  <caption class="visually-hidden">Backups, newest first</caption>
                  <thead><tr><th scope="col">Written</th><th scope="col">File</th><th scope="col">Size</th><th scope="col">Schema</th>
                    <th scope="col" class="actions-col"><span class="visually-hidden">Download</span></th></tr></thead>
                  <tbody>
                    ${rows.map((b) => html`<tr key=${b.name}>
                      <td>${when(b.created_at)}</td>
                      <td class="wrap"><code>${b.name}</code></td>
                      <td>${size(b.size)}</td>
                      <td>v${b.schema_version}</td>
                      <td class="actions"><button type="button" class="link" aria-label=${`Download ${b.name}`} aria-busy=${busy === b.name ? 'true' : 'false'}
                        disabled=${!!busy} onClick=${() => download(b.name)}>Download</button></td>
                    </tr>`)}
                  </tbody>
                </table>`}`}
  </main>`;
}
