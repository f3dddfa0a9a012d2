// Home: how many patients, doctors and assignments there are, and the patients changed last.
import { api } from './api.js';
import { html, Loading, ErrorState, useLoad, usePageTitle, formatDate, clinicMode } from './ui.js';

function count(path) {
  return api('GET', path, { query: { limit: 1 } }).then((r) => (r.total === null ? (r.data || []).length : r.total));
}

export function Home() {
  usePageTitle('Home');
  const counts = useLoad(async () => {
    const [patients, doctors, assignments] = await Promise.all([count('/api/patients/'), count('/api/doctors/'), count('/api/mappings/')]);
    return { patients, doctors, assignments };
  }, []);
  const recent = useLoad(async () => (await api('GET', '/api/patients/', { query: { ordering: '-updated_at', limit: 6 } })).data || [], []);
  const c = counts.value;
  const tile = (id, n, label, href, hint) => html`<li class="count-tile">
    <a href=${href}><strong id=${id} class="count">${n === undefined ? '…' : n}</strong> <span>${label}</span></a>
    <small class="muted">${hint}</small>
  </li>`;

  return html`<main id="main" class="container" aria-labelledby="page-title">
    <div class="page-head">
      <h1 id="page-title" tabindex="-1">Home</h1>
      <div class="head-actions">
        <a href="#/patients/new" role="button">Add patient</a>
        <a href="#/doctors/new" role="button" class="secondary outline">Add doctor</a>
      </div>
    </div>
    ${counts.error
      ? html`<${ErrorState} error=${counts.error} onRetry=${counts.reload} />`
      : html`<ul class="counts" aria-label="Counts">
          ${tile('count-patients', c?.patients, c?.patients === 1 ? 'patient' : 'patients', '#/patients', clinicMode() ? 'the whole clinic' : 'yours only')}
          ${tile('count-doctors', c?.doctors, c?.doctors === 1 ? 'doctor' : 'doctors', '#/doctors', 'in the shared directory')}
          ${tile('count-assignments', c?.assignments, c?.assignments === 1 ? 'assignment' : 'assignments', '#/patients', clinicMode() ? 'doctors assigned to patients' : 'doctors assigned to your patients')}
        </ul>`}
    <section class="card recent" aria-labelledby="recent-title">
      <h2 id="recent-title">Recently changed patients</h2>
      ${recent.error
        ? html`<${ErrorState} error=${recent.error} onRetry=${recent.reload} />`
        : !recent.value
          ? html`<${Loading} label="Loading patients…" />`
          : recent.value.length === 0
            ? html`<p class="empty-inline">No patients yet. <a href="#/patients/new">Add your first patient</a>.</p>`
            : html`<ul class="recent-list" id="recent-patients">
                ${recent.value.map((p) => html`<li key=${p.id}>
                  <a href=${`#/patients/${p.id}`}>${p.name}</a>
                  <small class="muted">${p.phone_number} · changed ${formatDate(p.updated_at)}</small>
                </li>`)}
              </ul>`}
      <p class="small-print"><a href="#/patients?ordering=-created_at">All patients, newest first</a></p>
    </section>
  </main>`;
}
