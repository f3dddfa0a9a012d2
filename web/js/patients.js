// "My patients": list, search, sort, paginate, add, edit, delete; a patient's page with the doctors
// assigned to them, where doctors are assigned (searchable picker) and unassigned.
import { useState, useRef, useEffect } from '../vendor/preact-htm/standalone.module.js';
import { api, listAll, state as apiState } from './api.js';
import {
  html, navigate, notify, Loading, ErrorState, Empty, ConfirmDialog, useLoad, usePageTitle, useDebounced, GENDERS, genderLabel,
  formatDate, patientsTitle, clinicMode,
} from './ui.js';
import { useForm, SubmitButton, Field, FormError, DraftNote } from './form.js';
import { useResourceList, ResourceTable, SearchBox, SortHeader, PageSize, SortSelect } from './list.js';
import { When, who, actionLabel, resourceLabel, outcome } from './activity.js';

const FIELDS = ['name', 'age', 'gender', 'address', 'phone_number'];

/**
 * A phone number as people type it, made compact before it is sent: spaces, dashes, dots, slashes
 * and brackets go ("+44 (20) 7946-0958" is "+442079460958"), so more numbers fit the API's 15
 * characters. Anything else (letters) is left for the API to judge.
 */
export function normalisePhone(s) {
  return String(s).replace(/[\s\-.()/[\]]/g, '');
}

export function PatientsList({ route }) {
  usePageTitle(patientsTitle());
  const list = useResourceList(route, { base: '/patients', url: '/api/patients/', filter: 'gender' });
  const { params, go } = list;
  const sort = (o) => go({ ordering: o, offset: 0 });

  return html`<main id="main" class="container" aria-labelledby="page-title">
    <div class="page-head">
      <h1 id="page-title" tabindex="-1">${patientsTitle()}</h1>
      <a href="#/patients/new" role="button" id="add-patient">Add patient</a>
    </div>
    <p class="muted lead">Only you can see the patients you add.</p>
    ${list.nothingYet ? null : html`<search><form class="toolbar" aria-label="Find patients" onSubmit=${(e) => e.preventDefault()}>
      <${SearchBox} id="patient-search" label="Search" placeholder="Name, phone or address"
        value=${params.search} onSearch=${(s) => go({ search: s, offset: 0 })} />
      <div class="field">
        <label for="patient-gender">Gender</label>
        <select id="patient-gender" value=${params.filter} onChange=${(e) => go({ filter: e.currentTarget.value, offset: 0 })}>
          <option value="">All</option>
          ${GENDERS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
        </select>
      </div>
      <${SortSelect} id="patient-sort" value=${params.ordering} onChange=${sort}
        options=${[['name', 'Name A–Z'], ['-name', 'Name Z–A'], ['age', 'Youngest first'], ['-age', 'Oldest first'], ['-created_at', 'Newest first']]} />
      <${PageSize} id="patient-page-size" value=${params.limit} onChange=${(n) => go({ limit: n, offset: 0 })} />
    </form></search>`}
    <${ResourceTable} list=${list} id="patients-table" caption=${patientsTitle()} noun="patients"
      empty=${html`<${Empty} title="No patients yet">
        <p>Add your first patient. Then open them to assign doctors from the directory.</p>
        <a href="#/patients/new" role="button">Add your first patient</a>
      </${Empty}>`}
      head=${html`<${SortHeader} field="name" label="Name" ordering=${params.ordering} onSort=${sort} />
        <${SortHeader} field="age" label="Age" ordering=${params.ordering} onSort=${sort} className="num" />
        <th scope="col">Gender</th>
        <th scope="col">Phone</th>
        <${SortHeader} field="created_at" label="Added" ordering=${params.ordering} onSort=${sort} />`}
      cells=${(p) => html`<td data-label="Name" class="primary-cell"><a href=${`#/patients/${p.id}`}>${p.name}</a></td>
        <td data-label="Age" class="num keep-label">${p.age}</td>
        <td data-label="Gender">${genderLabel(p.gender)}</td>
        <td data-label="Phone" class="nowrap">${p.phone_number}</td>
        <td data-label="Added" class="nowrap date">${formatDate(p.created_at)}</td>`}
      deleteDialog=${(p, onClose) => html`<${DeletePatient} patient=${p} onClose=${onClose} />`} />
  </main>`;
}

function DeletePatient({ patient, onClose, after }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const docs = useLoad(async () => (await api('GET', `/api/patients/${patient.id}/doctors/`, { query: { limit: 1000 } })).data || [], [patient.id]);
  const n = docs.value ? docs.value.length : null;
  async function confirm() {
    setBusy(true);
    try {
      await api('DELETE', `/api/patients/${patient.id}/`);
      notify(`Deleted patient ${patient.name}.`);
      onClose(true);
      if (after) after();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }
  return html`<${ConfirmDialog} title=${`Delete ${patient.name}?`} busy=${busy} error=${error} confirmLabel="Delete patient"
    onConfirm=${confirm} onCancel=${() => onClose(false)}>
    <p>This deletes the patient <strong>${patient.name}</strong> (${patient.phone_number}) and their details.</p>
    <p id="delete-assignments">
      ${n === null
        ? 'Counting their doctor assignments…'
        : n === 0
          ? 'They have no doctor assignments.'
          : html`Their <strong>${n} doctor assignment${n === 1 ? '' : 's'}</strong> (${docs.value.slice(0, 5).map((d) => d.name).join(', ')}${n > 5 ? ', …' : ''})
              will be removed too. The doctors stay in the directory.`}
    </p>
    <p>This cannot be undone.</p>
  </${ConfirmDialog}>`;
}

export function PatientForm({ id }) {
  const editing = id !== undefined;
  usePageTitle(editing ? 'Edit patient' : 'Add patient');
  const form = useForm({ name: '', age: '', gender: '', address: '', phone_number: '' }, async (f) => {
    // Send age as a number when it is one; anything else goes as typed so the server explains.
    const age = /^\s*-?\d+\s*$/.test(f.age) ? Number(f.age) : f.age;
    const body = { ...f, age, phone_number: normalisePhone(f.phone_number) };
    if (!body.gender) delete body.gender; // "This field is required." reads better than '"" is not a valid choice.'
    const r = editing ? await api('PUT', `/api/patients/${id}/`, { body }) : await api('POST', '/api/patients/', { body });
    notify(editing ? `Saved ${r.data.name}.` : `Added patient ${r.data.name}.`);
    navigate(`/patients/${r.data.id}`);
  }, { draftKey: editing ? `patient-${id}` : 'patient-new' });
  const load = useLoad(async () => {
    if (!editing) return null;
    const r = await api('GET', `/api/patients/${id}/`);
    const p = r.data;
    form.setValues({ name: p.name, age: String(p.age), gender: p.gender, address: p.address, phone_number: p.phone_number });
    return p;
  }, [id]);
  const { values: f, set, errors } = form;

  return html`<main id="main" class="container narrow" aria-labelledby="page-title">
    <nav aria-label="Breadcrumb" class="crumbs"><ul>
      <li><a href="#/patients">${patientsTitle()}</a></li>
      ${editing && load.value ? html`<li><a href=${`#/patients/${id}`}>${load.value.name}</a></li>` : null}
      <li aria-current="page">${editing ? 'Edit' : 'Add'}</li>
    </ul></nav>
    <h1 id="page-title" tabindex="-1">${editing ? 'Edit patient' : 'Add a patient'}</h1>
    ${editing && load.error
      ? html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`
      : editing && load.loading
        ? html`<${Loading} label="Loading the patient…" />`
        : html`<form ...${form.props} id="patient-form">
            <${DraftNote} form=${form} />
            <${FormError} error=${form.error} fields=${FIELDS} />
            <${Field} id="patient-name" name="name" label="Full name" errors=${errors} value=${f.name} onInput=${set('name')} required maxlength="255" autocomplete="off" />
            <div class="grid two">
              <${Field} id="patient-age" name="age" label="Age (years)" errors=${errors} value=${f.age} onInput=${set('age')} required
                inputmode="numeric" autocomplete="off" hint="0 to 150." />
              <${Field} id="patient-gender" name="gender" label="Gender" as="select" errors=${errors} value=${f.gender} onInput=${set('gender')}
                required options=${[['', 'Choose…'], ...GENDERS]} />
            </div>
            <${Field} id="patient-phone" name="phone_number" label="Phone number" type="tel" errors=${errors} value=${f.phone_number}
              onInput=${set('phone_number')} required autocomplete="off"
              hint="Type it as you like: spaces, dashes and brackets are removed. Up to 15 characters after that; unique among your patients." />
            <${Field} id="patient-address" name="address" label="Address" as="textarea" errors=${errors} value=${f.address}
              onInput=${set('address')} required autocomplete="off" />
            <div class="form-actions">
              <${SubmitButton} form=${form}>${editing ? 'Save changes' : 'Add patient'}</${SubmitButton}>
              <a href=${editing ? `#/patients/${id}` : '#/patients'} role="button" class="secondary outline">Cancel</a>
            </div>
          </form>`}
  </main>`;
}

export function PatientDetail({ id }) {
  const [version, setVersion] = useState(0);
  const [deleting, setDeleting] = useState(false);
  // The last assign/unassign, said under the picker (never above it: nothing there may move under
  // the pointer), with Undo for an assignment: {text, undo?}.
  const [status, setStatus] = useState(null);
  const patient = useLoad(async () => (await api('GET', `/api/patients/${id}/`)).data, [id]);
  // Doctors assigned, and the assignment ids (needed to unassign): only this patient's mappings.
  const assigned = useLoad(async () => {
    const [docs, maps] = await Promise.all([
      api('GET', `/api/patients/${id}/doctors/`, { query: { limit: 1000 } }).then((r) => r.data || []),
      listAll('/api/mappings/', { patient: id }),
    ]);
    const byDoctor = new Map(maps.map((m) => [m.doctor, m]));
    return docs.map((d) => ({ doctor: d, mapping: byDoctor.get(d.id) }));
  }, [id, version]);
  // The rows on screen: the loaded list, where an unassigned doctor keeps its row (with Undo) until
  // the list loads again, so the rows under the pointer do not move up.
  const [rows, setRows] = useState(null);
  useEffect(() => {
    if (assigned.value) setRows(assigned.value.map((a) => ({ ...a, gone: false })));
  }, [assigned.value]);
  const [printedAt, setPrintedAt] = useState(() => new Date());
  useEffect(() => {
    const on = () => setPrintedAt(new Date());
    window.addEventListener('beforeprint', on);
    return () => window.removeEventListener('beforeprint', on);
  }, []);
  const p = patient.value;
  usePageTitle(p ? p.name : 'Patient');

  if (patient.error) {
    return html`<main id="main" class="container" aria-labelledby="page-title">
      <nav aria-label="Breadcrumb" class="crumbs"><ul><li><a href="#/patients">${patientsTitle()}</a></li></ul></nav>
      <h1 id="page-title" tabindex="-1">Patient</h1>
      ${patient.error.status === 404
        ? html`<${Empty} title="Patient not found"><p>This patient does not exist or is not one of yours.</p>
            <a href="#/patients" role="button" class="secondary">Back to my patients</a></${Empty}>`
        : html`<${ErrorState} error=${patient.error} onRetry=${patient.reload} />`}
    </main>`;
  }
  if (!p) return html`<main id="main" class="container"><${Loading} label="Loading the patient…" /></main>`;
  const reload = () => setVersion((v) => v + 1);
  const current = (rows || []).filter((r) => !r.gone);
  const me = apiState.me;

  return html`<main id="main" class="container patient-page" aria-labelledby="page-title">
    <nav aria-label="Breadcrumb" class="crumbs"><ul><li><a href="#/patients">${patientsTitle()}</a></li><li aria-current="page">${p.name}</li></ul></nav>
    <p class="print-only print-head">Patient summary · Clinic admin</p>
    <div class="page-head">
      <h1 id="page-title" tabindex="-1">${p.name}</h1>
      <div class="head-actions">
        <a href=${`#/patients/${p.id}/edit`} role="button" class="secondary outline" id="edit-patient">Edit</a>
        <button type="button" class="secondary outline" id="print-patient" onClick=${() => window.print()}>Print</button>
        <button type="button" class="danger outline" id="delete-patient" onClick=${() => setDeleting(true)}>Delete</button>
      </div>
    </div>
    <div class="detail-grid">
      <section aria-labelledby="details-title" class="card">
        <h2 id="details-title">Details</h2>
        <dl class="details">
          <dt>Age</dt><dd>${p.age}</dd>
          <dt>Gender</dt><dd>${genderLabel(p.gender)}</dd>
          <dt>Phone</dt><dd>${p.phone_number}</dd>
          <dt>Address</dt><dd class="wrap">${p.address}</dd>
          <dt>Added</dt><dd>${formatDate(p.created_at)}</dd>
          <dt>Updated</dt><dd>${formatDate(p.updated_at)}</dd>
        </dl>
      </section>
      <section aria-labelledby="doctors-title" class="card doctors-card">
        <h2 id="doctors-title">Doctors</h2>
        <${DoctorPicker} patient=${p} assignedIds=${new Set(current.map((a) => a.doctor.id))} onStatus=${setStatus} onAssigned=${reload} />
        <div id="assign-status" class=${status ? 'assign-status shown' : 'assign-status'}>
          <p role="status" aria-live="polite" aria-atomic="true">${status ? status.text : ''}</p>
          ${status && status.undo
            ? html`<button type="button" class="link undo" aria-label=${status.undoLabel} onClick=${status.undo}>Undo</button>`
            : null}
        </div>
        <h3 class="assigned-title" id="assigned-title">Assigned doctors${rows ? ` (${current.length})` : ''}</h3>
        <${AssignedDoctors} load=${assigned} rows=${rows} setRows=${setRows} patient=${p} onStatus=${setStatus} />
      </section>
    </div>
    ${me && (me.role === 'admin' || !clinicMode()) ? html`<${AccessHistory} patientId=${p.id} />` : null}
    <p class="print-only printed-by">Printed ${printedAt.toLocaleString()}${me ? ` by ${me.username}` : ''}.</p>
    ${deleting
      ? html`<${DeletePatient} patient=${p} onClose=${(deleted) => {
          setDeleting(false);
          if (deleted) navigate('/patients');
        }} />`
      : null}
  </main>`;
}

const HISTORY_PAGE = 10;

/**
 * Who opened or changed this patient, newest first; "Show more" adds older rows. Only those the API
 * lets see it get it: administrators, and the owner unless patients are shared clinic-wide (then the
 * request is not even made). A 403 or 404 hides the section: it is not an error for this user.
 */
function AccessHistory({ patientId }) {
  const [offset, setOffset] = useState(0);
  const [rows, setRows] = useState([]);
  const load = useLoad(() => api('GET', `/api/patients/${patientId}/audit/`, { query: { limit: HISTORY_PAGE, offset } }), [patientId, offset]);
  useEffect(() => {
    if (!load.value) return;
    // Rows recorded since the first page (this request is one) push older ones down (none ever move
    // up: the trail is append-only), so a later page may repeat rows already shown but never skips
    // one: only rows older than the last one shown are added.
    setRows((rs) => {
      const last = rs.length ? rs[rs.length - 1].seq : Infinity;
      return [...rs, ...(load.value.data || []).filter((r) => r.seq < last)];
    });
    // "Show more" went away with the last page: focus stays in the section, not lost on <body>.
    if (offset && !load.value.next) requestAnimationFrame(() => document.getElementById('access-history-title')?.focus());
  }, [load.value]);
  if (load.error && (load.error.status === 403 || load.error.status === 404)) return null;
  const more = !load.error && load.value && load.value.next;
  return html`<section class="card access-card" id="access-history" aria-labelledby="access-history-title">
    <h2 id="access-history-title" tabindex="-1">Access history</h2>
    ${load.error ? html`<${ErrorState} error=${load.error} onRetry=${load.reload} />` : null}
    ${rows.length === 0
      ? load.error ? null : load.loading ? html`<${Loading} label="Loading the access history…" />` : html`<p class="empty-inline">No access recorded yet.</p>`
      : html`<table class="data-table" id="access-table" aria-busy=${load.loading ? 'true' : 'false'}>
          <caption class="visually-hidden">Access history, newest first</caption>
          <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Outcome</th></tr></thead>
          <tbody>
            ${rows.map((r) => html`<tr key=${r.seq}>
              <td data-label="When" class="primary-cell nowrap"><${When} at=${r.at} /></td>
              <td data-label="Who" class="wrap">${who(r)}</td>
              <td data-label="What">${actionLabel(r.action)} · ${resourceLabel(r.resource)}</td>
              <td data-label="Outcome">${outcome(r.status)}</td>
            </tr>`)}
          </tbody>
        </table>`}
    ${more ? html`<button type="button" class="secondary outline small" id="access-more" aria-busy=${load.loading ? 'true' : 'false'}
        onClick=${() => !load.loading && setOffset((o) => o + HISTORY_PAGE)}>Show more</button>` : null}
  </section>`;
}

function AssignedDoctors({ load, rows, setRows, patient, onStatus }) {
  const [busyId, setBusyId] = useState(0);
  const [error, setError] = useState(null);
  if (load.error && !rows) return html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`;
  if (!rows) return html`<${Loading} label="Loading assigned doctors…" />`;
  const mark = (doctorId, change) => setRows((rs) => rs.map((r) => (r.doctor.id === doctorId ? { ...r, ...change } : r)));

  // Unassign keeps the row (it turns into "unassigned" with Undo, and keeps focus); Undo assigns
  // the doctor again. The button is never disabled while busy, so focus never falls to the page.
  async function toggle(a) {
    if (busyId) return;
    setError(null);
    setBusyId(a.doctor.id);
    try {
      if (a.gone) {
        const r = await api('POST', '/api/mappings/', { body: { patient: patient.id, doctor: a.doctor.id } });
        mark(a.doctor.id, { gone: false, mapping: r.data });
        onStatus({ text: `Assigned ${a.doctor.name} to ${patient.name} again.` });
      } else {
        let mapping = a.mapping;
        if (!mapping) {
          // Assigned after the page loaded: the filters find the one mapping of this pair.
          const r = await api('GET', '/api/mappings/', { query: { patient: patient.id, doctor: a.doctor.id, limit: 1 } });
          mapping = (r.data || [])[0];
        }
        if (!mapping) throw new Error('That assignment no longer exists.');
        await api('DELETE', `/api/mappings/${mapping.id}/`);
        mark(a.doctor.id, { gone: true, mapping: null });
        onStatus({ text: `Unassigned ${a.doctor.name} from ${patient.name}.` });
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusyId(0);
    }
  }

  return html`<div>
    ${error ? html`<p class="field-error" role="alert">${error.message}</p>` : null}
    ${rows.length === 0
      ? html`<p class="empty-inline" id="no-doctors">No doctors assigned yet. Find one above and assign them.</p>`
      : html`<ul class="assigned" id="assigned-doctors" aria-labelledby="assigned-title" aria-busy=${load.loading ? 'true' : 'false'}>
          ${rows.map(
            (a) => html`<li key=${a.doctor.id} class=${a.gone ? 'gone' : ''}>
              <span class="who"><strong>${a.doctor.name}</strong> <span class="muted">${a.doctor.specialization}</span>
                ${a.gone
                  ? html`<small class="muted since">unassigned just now</small>`
                  : a.mapping ? html`<small class="muted since">since ${formatDate(a.mapping.assigned_at)}</small>` : null}</span>
              <button type="button" class="secondary outline small" aria-busy=${busyId === a.doctor.id ? 'true' : 'false'}
                aria-label=${a.gone ? `Undo unassigning ${a.doctor.name}` : `Unassign ${a.doctor.name}`} onClick=${() => toggle(a)}>${a.gone ? 'Undo' : 'Unassign'}</button>
            </li>`,
          )}
        </ul>`}
  </div>`;
}

/** Search the directory and assign a doctor: type, then pick from the results (Tab or arrow keys). */
function DoctorPicker({ patient, assignedIds, onAssigned, onStatus }) {
  const [q, setQ] = useState('');
  const query = useDebounced(q, 250);
  const [busyId, setBusyId] = useState(0);
  const [error, setError] = useState(null);
  const list = useRef(null);
  const search = useRef(null);
  const results = useLoad(
    async () => (await api('GET', '/api/doctors/', { query: { search: query.trim(), limit: 8, ordering: 'name' } })),
    [query],
  );
  const rows = results.value ? results.value.data || [] : [];
  const total = results.value ? results.value.total : null;

  // After an assignment the button becomes "Assigned" (disabled): focus goes back to the search box
  // when the keyboard did it (ready for the next doctor), to the notice's Undo when the pointer did.
  async function assign(d, byKeyboard) {
    if (busyId || assignedIds.has(d.id)) return;
    setError(null);
    setBusyId(d.id);
    try {
      const r = await api('POST', '/api/mappings/', { body: { patient: patient.id, doctor: d.id } });
      const mapping = r.data;
      onStatus({
        text: `Assigned ${d.name} to ${patient.name}.`,
        undoLabel: `Undo assigning ${d.name}`,
        undo: async () => {
          try {
            await api('DELETE', `/api/mappings/${mapping.id}/`);
            onStatus({ text: `Undone: ${d.name} is no longer assigned to ${patient.name}.` });
            onAssigned();
            requestAnimationFrame(() => search.current?.focus());
          } catch (err) {
            setError(err);
          }
        },
      });
      onAssigned();
      requestAnimationFrame(() => {
        if (byKeyboard) {
          search.current?.focus();
          search.current?.select();
        } else document.querySelector('#assign-status .undo')?.focus({ preventScroll: true });
      });
    } catch (err) {
      setError(err);
    } finally {
      setBusyId(0);
    }
  }

  // Arrow keys move between the result buttons; from the search box, Down enters the list.
  function onKey(e) {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const buttons = [...(list.current ? list.current.querySelectorAll('button:not([disabled])') : [])];
    if (!buttons.length) return;
    e.preventDefault();
    const i = buttons.indexOf(document.activeElement);
    const next = e.key === 'ArrowDown' ? (i + 1) % buttons.length : i <= 0 ? -1 : i - 1;
    if (next === -1) search.current.focus();
    else buttons[next].focus();
  }

  return html`<div class="picker" onKeyDown=${onKey}>
    <h3 class="picker-title">Assign a doctor</h3>
    <div class="field">
      <label for="picker-search">Find a doctor by name or specialization</label>
      <input id="picker-search" ref=${search} type="search" value=${q} autocomplete="off" aria-controls="picker-results"
        aria-describedby="picker-help" onInput=${(e) => setQ(e.currentTarget.value)} />
      <small id="picker-help" class="hint">Results update as you type; use Tab or the arrow keys to reach them.</small>
    </div>
    ${error ? html`<p class="field-error" role="alert">${error.message}</p>` : null}
    <div id="picker-results" aria-live="polite" aria-busy=${results.loading ? 'true' : 'false'}>
      ${results.error
        ? html`<p class="field-error">${results.error.message}</p>`
        : !results.value
          ? html`<p class="muted">Searching…</p>`
          : rows.length === 0
            ? html`<p class="empty-inline">${query.trim()
              ? html`No doctor matches “${query.trim()}”. Try another spelling, or <a href="#/doctors/new">add the doctor</a> to the directory first.`
              : html`The directory is empty. <a href="#/doctors/new">Add a doctor</a> first.`}</p>`
            : html`<ul class="picker-list" ref=${list} aria-label="Matching doctors">
                ${rows.map((d) => {
                  const has = assignedIds.has(d.id);
                  return html`<li key=${d.id}>
                    <span class="who"><strong>${d.name}</strong> <span class="muted">${d.specialization}</span></span>
                    <button type="button" class="small ${has ? 'secondary outline' : ''}" disabled=${has}
                      aria-busy=${busyId === d.id ? 'true' : 'false'} aria-label=${has ? `${d.name} is assigned` : `Assign ${d.name}`}
                      onClick=${(e) => assign(d, e.detail === 0)}>${has ? 'Assigned' : 'Assign'}</button>
                  </li>`;
                })}
              </ul>
              ${total !== null && total > rows.length ? html`<p class="muted small-print">${total - rows.length} more; type to narrow the list.</p>` : null}`}
    </div>
  </div>`;
}
