// The doctors directory (shared by all users): list, search, filter, sort, paginate, add, edit, delete.
import { useState, useEffect } from '../vendor/preact-htm/standalone.module.js';
import { api } from './api.js';
import { html, navigate, notify, Loading, ErrorState, Empty, ConfirmDialog, useLoad, usePageTitle } from './ui.js';
import { useForm, SubmitButton, Field, FormError, DraftNote } from './form.js';
import { useResourceList, ResourceTable, SearchBox, SortHeader, PageSize, SortSelect } from './list.js';

const FIELDS = ['name', 'specialization', 'contact_info'];

/** Distinct specializations in the directory, for the filter (one request, cached for the page). */
function useSpecializations(version) {
  const [list, setList] = useState([]);
  useEffect(() => {
    let live = true;
    api('GET', '/api/doctors/', { query: { limit: 1000, ordering: 'specialization' } })
      .then((r) => {
        if (!live) return;
        const set = new Set((r.data || []).map((d) => d.specialization).filter(Boolean));
        setList([...set].sort((a, b) => a.localeCompare(b)));
      })
      .catch(() => {});
    return () => (live = false);
  }, [version]);
  return list;
}

export function DoctorsList({ route }) {
  usePageTitle('Doctors');
  const list = useResourceList(route, { base: '/doctors', url: '/api/doctors/', filter: 'specialization' });
  const { params, go } = list;
  const specs = useSpecializations(list.version);
  const sort = (o) => go({ ordering: o, offset: 0 });

  return html`<main id="main" class="container" aria-labelledby="page-title">
    <div class="page-head">
      <h1 id="page-title" tabindex="-1">Doctors</h1>
      <a href="#/doctors/new" role="button" id="add-doctor">Add doctor</a>
    </div>
    <p class="muted lead">The clinic's directory, shared by all staff accounts.</p>
    ${list.nothingYet ? null : html`<search><form class="toolbar" aria-label="Find doctors" onSubmit=${(e) => e.preventDefault()}>
      <${SearchBox} id="doctor-search" label="Search" placeholder="Name, specialization or contact"
        value=${params.search} onSearch=${(s) => go({ search: s, offset: 0 })} />
      <div class="field">
        <label for="doctor-spec">Specialization</label>
        <select id="doctor-spec" value=${params.filter} onChange=${(e) => go({ filter: e.currentTarget.value, offset: 0 })}>
          <option value="">All</option>
          ${specs.map((s) => html`<option value=${s}>${s}</option>`)}
          ${params.filter && !specs.includes(params.filter) ? html`<option value=${params.filter}>${params.filter}</option>` : null}
        </select>
      </div>
      <${SortSelect} id="doctor-sort" value=${params.ordering} onChange=${sort}
        options=${[['name', 'Name A–Z'], ['-name', 'Name Z–A'], ['specialization', 'Specialization A–Z'], ['-specialization', 'Specialization Z–A']]} />
      <${PageSize} id="doctor-page-size" value=${params.limit} onChange=${(n) => go({ limit: n, offset: 0 })} />
    </form></search>`}
    <${ResourceTable} list=${list} id="doctors-table" caption="Doctors" noun="doctors"
      empty=${html`<${Empty} title="The directory is empty">
        <p>Add the clinic's doctors first; you can then assign them to your patients.</p>
        <a href="#/doctors/new" role="button">Add the first doctor</a>
      </${Empty}>`}
      head=${html`<${SortHeader} field="name" label="Name" ordering=${params.ordering} onSort=${sort} />
        <${SortHeader} field="specialization" label="Specialization" ordering=${params.ordering} onSort=${sort} />
        <th scope="col">Contact</th>`}
      cells=${(d) => html`<td data-label="Name" class="primary-cell wrap">${d.name}</td>
        <td data-label="Specialization">${d.specialization}</td>
        <td data-label="Contact" class="wrap">${d.contact_info}</td>`}
      deleteDialog=${(d, onClose) => html`<${DeleteDoctor} doctor=${d} onClose=${onClose} />`} />
  </main>`;
}

function DeleteDoctor({ doctor, onClose }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  // One small page of this doctor's assignments to the caller's patients: X-Total-Count is the
  // count (the API lists no other staff's assignments), the rows name the first few patients.
  const mine = useLoad(async () => {
    const r = await api('GET', '/api/mappings/', { query: { doctor: doctor.id, limit: 5 } });
    const rows = r.data || [];
    return { rows, total: r.total === null ? rows.length : r.total };
  }, [doctor.id]);
  const n = mine.value ? mine.value.total : null;
  async function confirm() {
    setBusy(true);
    try {
      await api('DELETE', `/api/doctors/${doctor.id}/`);
      notify(`Deleted ${doctor.name} from the directory.`);
      onClose(true);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }
  return html`<${ConfirmDialog} title=${`Delete ${doctor.name}?`} busy=${busy} error=${error} confirmLabel="Delete doctor"
    onConfirm=${confirm} onCancel=${() => onClose(false)}>
    <p>This removes <strong>${doctor.name}</strong> (${doctor.specialization}) from the directory for every staff account.</p>
    <p id="delete-assignments">
      ${n === null
        ? 'Counting their assignments…'
        : n === 0
          ? 'None of your patients is assigned to this doctor. Assignments other staff made are removed too.'
          : html`Their <strong>${n} assignment${n === 1 ? '' : 's'}</strong> to your patients
              (${mine.value.rows.map((m) => m.patient_name).join(', ')}${n > mine.value.rows.length ? ', …' : ''}) will be removed
              too, as will any assignments other staff made.`}
    </p>
    <p>This cannot be undone.</p>
  </${ConfirmDialog}>`;
}

export function DoctorForm({ id }) {
  const editing = id !== undefined;
  usePageTitle(editing ? 'Edit doctor' : 'Add doctor');
  const form = useForm({ name: '', specialization: '', contact_info: '' }, async (body) => {
    const r = editing ? await api('PUT', `/api/doctors/${id}/`, { body }) : await api('POST', '/api/doctors/', { body });
    notify(editing ? `Saved ${r.data.name}.` : `Added ${r.data.name} to the directory.`);
    navigate('/doctors');
  }, { draftKey: editing ? `doctor-${id}` : 'doctor-new' });
  const load = useLoad(async () => {
    if (!editing) return null;
    const r = await api('GET', `/api/doctors/${id}/`);
    form.setValues({ name: r.data.name, specialization: r.data.specialization, contact_info: r.data.contact_info });
    return r.data;
  }, [id]);
  const { values: f, set, errors } = form;

  const title = editing ? 'Edit doctor' : 'Add a doctor';
  return html`<main id="main" class="container narrow" aria-labelledby="page-title">
    <nav aria-label="Breadcrumb" class="crumbs"><ul><li><a href="#/doctors">Doctors</a></li><li aria-current="page">${editing ? 'Edit' : 'Add'}</li></ul></nav>
    <h1 id="page-title" tabindex="-1">${title}</h1>
    ${editing && load.error
      ? html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`
      : editing && load.loading
        ? html`<${Loading} label="Loading the doctor…" />`
        : html`<form ...${form.props} id="doctor-form">
            <${DraftNote} form=${form} />
            <${FormError} error=${form.error} fields=${FIELDS} />
            <${Field} id="doctor-name" name="name" label="Name" errors=${errors} value=${f.name} onInput=${set('name')} required maxlength="255" autocomplete="off" />
            <${Field} id="doctor-specialization" name="specialization" label="Specialization" errors=${errors} value=${f.specialization}
              onInput=${set('specialization')} required maxlength="255" autocomplete="off" hint="For example Cardiology." />
            <${Field} id="doctor-contact" name="contact_info" label="Contact (email or phone)" errors=${errors} value=${f.contact_info}
              onInput=${set('contact_info')} required maxlength="255" autocomplete="off" hint="Must be unique in the directory." />
            <div class="form-actions">
              <${SubmitButton} form=${form}>${editing ? 'Save changes' : 'Add doctor'}</${SubmitButton}>
              <a href="#/doctors" role="button" class="secondary outline">Cancel</a>
            </div>
          </form>`}
  </main>`;
}
