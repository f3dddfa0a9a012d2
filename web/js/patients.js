// "My patients": list, search, sort, paginate, add, edit, delete; a patient's page with the doctors
// assigned to them, where doctors are assigned (searchable picker) and unassigned.
import { useState, useRef } from '../vendor/preact-htm/standalone.module.js';
import { api, listAll } from './api.js';
import {
  html, navigate, notify, Loading, ErrorState, Empty, ConfirmDialog, useLoad, usePageTitle, useDebounced, GENDERS, genderLabel,
  formatDate,
} from './ui.js';
import { useForm, SubmitButton, Field, FormError } from './form.js';
import { useResourceList, ResourceTable, SearchBox, SortHeader, PageSize, SortSelect } from './list.js';

const FIELDS = ['name', 'age', 'gender', 'address', 'phone_number'];

export function PatientsList({ route }) {
  usePageTitle('My patients');
  const list = useResourceList(route, { base: '/patients', url: '/api/patients/', filter: 'gender' });
  const { params, go } = list;
  const sort = (o) => go({ ordering: o, offset: 0 });

  return html`<main id="main" class="container" aria-labelledby="page-title">
    <div class="page-head">
      <h1 id="page-title" tabindex="-1">My patients</h1>
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
    <${ResourceTable} list=${list} id="patients-table" caption="My patients" noun="patients"
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
        <td data-label="Age" class="num">${p.age}</td>
        <td data-label="Gender">${genderLabel(p.gender)}</td>
        <td data-label="Phone" class="nowrap">${p.phone_number}</td>
        <td data-label="Added" class="nowrap">${formatDate(p.created_at)}</td>`}
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
    const body = { ...f, age };
    if (!body.gender) delete body.gender; // "This field is required." reads better than '"" is not a valid choice.'
    const r = editing ? await api('PUT', `/api/patients/${id}/`, { body }) : await api('POST', '/api/patients/', { body });
    notify(editing ? `Saved ${r.data.name}.` : `Added patient ${r.data.name}.`);
    navigate(`/patients/${r.data.id}`);
  });
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
      <li><a href="#/patients">My patients</a></li>
      ${editing && load.value ? html`<li><a href=${`#/patients/${id}`}>${load.value.name}</a></li>` : null}
      <li aria-current="page">${editing ? 'Edit' : 'Add'}</li>
    </ul></nav>
    <h1 id="page-title" tabindex="-1">${editing ? 'Edit patient' : 'Add a patient'}</h1>
    ${editing && load.error
      ? html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`
      : editing && load.loading
        ? html`<${Loading} label="Loading the patient…" />`
        : html`<form ...${form.props} id="patient-form">
            <${FormError} error=${form.error} fields=${FIELDS} />
            <${Field} id="patient-name" name="name" label="Full name" errors=${errors} value=${f.name} onInput=${set('name')} required maxlength="255" autocomplete="off" />
            <div class="grid two">
              <${Field} id="patient-age" name="age" label="Age (years)" errors=${errors} value=${f.age} onInput=${set('age')} required
                inputmode="numeric" autocomplete="off" />
              <${Field} id="patient-gender" name="gender" label="Gender" as="select" errors=${errors} value=${f.gender} onInput=${set('gender')}
                required options=${[['', 'Choose…'], ...GENDERS]} />
            </div>
            <${Field} id="patient-phone" name="phone_number" label="Phone number" type="tel" errors=${errors} value=${f.phone_number}
              onInput=${set('phone_number')} required autocomplete="off" hint="Up to 15 characters; unique among your patients." />
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
  const p = patient.value;
  usePageTitle(p ? p.name : 'Patient');

  if (patient.error) {
    return html`<main id="main" class="container" aria-labelledby="page-title">
      <nav aria-label="Breadcrumb" class="crumbs"><ul><li><a href="#/patients">My patients</a></li></ul></nav>
      <h1 id="page-title" tabindex="-1">Patient</h1>
      ${patient.error.status === 404
        ? html`<${Empty} title="Patient not found"><p>This patient does not exist or is not one of yours.</p>
            <a href="#/patients" role="button" class="secondary">Back to my patients</a></${Empty}>`
        : html`<${ErrorState} error=${patient.error} onRetry=${patient.reload} />`}
    </main>`;
  }
  if (!p) return html`<main id="main" class="container"><${Loading} label="Loading the patient…" /></main>`;

  return html`<main id="main" class="container" aria-labelledby="page-title">
    <nav aria-label="Breadcrumb" class="crumbs"><ul><li><a href="#/patients">My patients</a></li><li aria-current="page">${p.name}</li></ul></nav>
    <div class="page-head">
      <h1 id="page-title" tabindex="-1">${p.name}</h1>
      <div class="head-actions">
        <a href=${`#/patients/${p.id}/edit`} role="button" class="secondary outline" id="edit-patient">Edit</a>
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
      <section aria-labelledby="doctors-title" class="card">
        <h2 id="doctors-title">Assigned doctors</h2>
        <${AssignedDoctors} load=${assigned} patient=${p} onChange=${() => setVersion((v) => v + 1)} />
        <${DoctorPicker} patient=${p} assignedIds=${new Set((assigned.value || []).map((a) => a.doctor.id))}
          onAssigned=${() => setVersion((v) => v + 1)} />
      </section>
    </div>
    ${deleting
      ? html`<${DeletePatient} patient=${p} onClose=${(deleted) => {
          setDeleting(false);
          if (deleted) navigate('/patients');
        }} />`
      : null}
  </main>`;
}

function AssignedDoctors({ load, patient, onChange }) {
  const [busyId, setBusyId] = useState(0);
  const [error, setError] = useState(null);
  if (load.error) return html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`;
  if (!load.value) return html`<${Loading} label="Loading assigned doctors…" />`;
  const list = load.value;

  async function unassign(a) {
    setError(null);
    setBusyId(a.doctor.id);
    try {
      let mapping = a.mapping;
      if (!mapping) {
        // Assigned after the page loaded: the filters find the one mapping of this pair.
        const r = await api('GET', '/api/mappings/', { query: { patient: patient.id, doctor: a.doctor.id, limit: 1 } });
        mapping = (r.data || [])[0];
      }
      if (!mapping) throw new Error('That assignment no longer exists.');
      await api('DELETE', `/api/mappings/${mapping.id}/`);
      notify(`Unassigned ${a.doctor.name} from ${patient.name}.`);
      onChange();
    } catch (err) {
      setError(err);
    } finally {
      setBusyId(0);
    }
  }

  return html`<div>
    ${error ? html`<p class="field-error" role="alert">${error.message}</p>` : null}
    ${list.length === 0
      ? html`<p class="empty-inline" id="no-doctors">No doctors assigned yet. Find one below and assign them.</p>`
      : html`<ul class="assigned" id="assigned-doctors" aria-busy=${load.loading ? 'true' : 'false'}>
          ${list.map(
            (a) => html`<li key=${a.doctor.id}>
              <span class="who"><strong>${a.doctor.name}</strong> <span class="muted">${a.doctor.specialization}</span>
                ${a.mapping ? html`<small class="muted since">since ${formatDate(a.mapping.assigned_at)}</small>` : null}</span>
              <button type="button" class="secondary outline small" aria-busy=${busyId === a.doctor.id ? 'true' : 'false'}
                disabled=${busyId === a.doctor.id} aria-label=${`Unassign ${a.doctor.name}`} onClick=${() => unassign(a)}>Unassign</button>
            </li>`,
          )}
        </ul>`}
  </div>`;
}

/** Search the directory and assign a doctor: type, then pick from the results (Tab or arrow keys). */
function DoctorPicker({ patient, assignedIds, onAssigned }) {
  const [q, setQ] = useState('');
  const query = useDebounced(q, 250);
  const [busyId, setBusyId] = useState(0);
  const [error, setError] = useState(null);
  const list = useRef(null);
  const results = useLoad(
    async () => (await api('GET', '/api/doctors/', { query: { search: query.trim(), limit: 8, ordering: 'name' } })),
    [query],
  );
  const rows = results.value ? results.value.data || [] : [];
  const total = results.value ? results.value.total : null;

  async function assign(d) {
    setError(null);
    setBusyId(d.id);
    try {
      await api('POST', '/api/mappings/', { body: { patient: patient.id, doctor: d.id } });
      notify(`Assigned ${d.name} to ${patient.name}.`);
      onAssigned();
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
    if (next === -1) document.getElementById('picker-search').focus();
    else buttons[next].focus();
  }

  return html`<div class="picker" onKeyDown=${onKey}>
    <h3 class="picker-title">Assign a doctor</h3>
    <div class="field">
      <label for="picker-search">Find a doctor by name or specialization</label>
      <input id="picker-search" type="search" value=${q} autocomplete="off" aria-controls="picker-results"
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
                    <button type="button" class="small ${has ? 'secondary outline' : ''}" disabled=${has || busyId === d.id}
                      aria-busy=${busyId === d.id ? 'true' : 'false'} aria-label=${has ? `${d.name} is assigned` : `Assign ${d.name}`}
                      onClick=${() => assign(d)}>${has ? 'Assigned' : 'Assign'}</button>
                  </li>`;
                })}
              </ul>
              ${total !== null && total > rows.length ? html`<p class="muted small-print">${total - rows.length} more; type to narrow the list.</p>` : null}`}
    </div>
  </div>`;
}
