// Administrators: the clinic policies, each with where its value comes from. A policy set in the
// configuration wins and cannot be changed here (read-only, naming its configuration key).
import { useState, useEffect } from '../vendor/preact-htm/standalone.module.js';
import { api, meChanged } from './api.js';
import { html, notify, usePageTitle, useLoad, Loading, ErrorState } from './ui.js';
import { focusFirstError } from './form.js';

const POLICIES = [
  {
    name: 'registration',
    title: 'Who can create an account',
    choices: {
      open: 'Anyone who reaches this server can register',
      approval: 'Anyone can register; an administrator approves each new account',
      closed: 'Nobody can register; administrators add the accounts',
    },
  },
  {
    name: 'patients.visibility',
    title: 'Who sees which patients',
    choices: {
      owner: 'Each account sees only the patients it entered',
      clinic: 'Every account sees and edits every patient (needs registration by approval or closed)',
    },
  },
  {
    name: 'doctors.writes',
    title: 'Who can add, change and delete doctors',
    choices: { any: 'Every account', admin: 'Administrators only' },
  },
];

const SOURCE = {
  default: 'The default',
  database: 'Chosen by an administrator',
  config: 'Set in the configuration',
};

const fieldId = (name) => 'policy-' + name.replace(/\./g, '-');

export function Settings() {
  usePageTitle('Settings');
  const load = useLoad(async () => (await api('GET', '/api/admin/settings/')).data, []);
  const [values, setValues] = useState({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!load.value) return;
    const v = {};
    for (const [k, s] of Object.entries(load.value)) v[k] = s.value;
    setValues(v);
  }, [load.value]);

  const current = load.value;
  const changed = current ? POLICIES.filter((p) => current[p.name] && !current[p.name].locked && values[p.name] !== current[p.name].value) : [];

  async function save(e) {
    e.preventDefault();
    const body = {};
    for (const p of changed) body[p.name] = values[p.name];
    setBusy(true);
    setError(null);
    try {
      await api('PUT', '/api/admin/settings/', { body });
      notify('Settings saved. They are in force now, for everyone.');
      meChanged(); // the policies in force (the wording of the lists) changed for every tab
      load.reload();
    } catch (err) {
      setError(err);
      focusFirstError(e.target);
    } finally {
      setBusy(false);
    }
  }

  const fieldErrors = error ? error.fields : {};
  const stray = error && Object.keys(fieldErrors).filter((k) => !POLICIES.some((p) => p.name === k));
  return html`<main id="main" class="container" aria-labelledby="page-title">
    <div class="page-head"><h1 id="page-title" tabindex="-1">Settings</h1></div>
    <p class="muted lead">Clinic policies. A value set in the configuration file or environment wins and can only be changed there; otherwise an administrator's choice here, else the default.</p>
    ${load.error
      ? html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`
      : !current
        ? html`<${Loading} label="Loading the settings…" />`
        : html`<form id="settings-form" onSubmit=${save} novalidate>
            ${error && (error.status !== 400 || stray.length || !Object.keys(fieldErrors).length)
              ? html`<div class="form-error" role="alert" tabindex="-1"><p>${error.message}</p>${stray.map((k) => html`<p>${fieldErrors[k].join(' ')}</p>`)}</div>`
              : null}
            ${POLICIES.map((p) => {
              const s = current[p.name];
              if (!s) return null;
              const id = fieldId(p.name);
              const errs = fieldErrors[p.name];
              return html`<fieldset class="card policy" id=${id} aria-describedby=${`${id}-source${errs ? ` ${id}-error` : ''}`}
                  aria-invalid=${errs ? 'true' : undefined}>
                <legend><strong>${p.title}</strong> <code>${s.config_key}</code></legend>
                <p class="small-print muted" id=${`${id}-source`}>
                  <span class="source">${SOURCE[s.source] || s.source}</span>${s.locked
                    ? html` <span class="locked">(<code>${s.config_key}</code>): read-only here; change it in the configuration and restart.</span>`
                    : s.source === 'default' ? null : html` · the default is ${s.default}`}
                </p>
                ${(s.choices || []).map((c) => html`<label class="radio">
                  <input type="radio" name=${p.name} value=${c} checked=${values[p.name] === c} disabled=${s.locked || busy}
                    onChange=${() => setValues((v) => ({ ...v, [p.name]: c }))} />
                  <strong>${c}</strong> — ${p.choices[c] || c}
                </label>`)}
                ${errs ? html`<small class="field-error" id=${`${id}-error`}>${errs.join(' ')}</small>` : null}
              </fieldset>`;
            })}
            <div class="form-actions">
              <button type="submit" id="save-settings" aria-busy=${busy ? 'true' : 'false'} disabled=${busy || changed.length === 0}>Save settings</button>
              ${changed.length ? html`<small class="muted">${changed.length} unsaved change${changed.length === 1 ? '' : 's'}</small>` : null}
            </div>
          </form>`}
  </main>`;
}
