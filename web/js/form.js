// The add/edit and sign-in forms' common parts: the values, the submit cycle (busy submit button,
// the API's error kept for the fields and the form top, focus on the first invalid field), and the
// labelled fields that show the server's errors beside them.
import { useState, useRef, useEffect } from '../vendor/preact-htm/standalone.module.js';
import { currentUserId } from './api.js';
import { html, navigate } from './ui.js';

/**
 * One form's state. `submit(values)` does the request and what follows a success (notice, navigate);
 * while it runs the submit button is busy, and if it throws, its error is shown and focus moves to
 * the first invalid field. The button stays busy after a success: the page is about to change.
 * Spread `form.props` on the <form>; `form.set('name')` is a field's onInput; `form.setValues(v)`
 * loads a record (the values the form compares against to know it has unsaved changes).
 *
 * With `draftKey`, unsaved changes are kept in this tab (sessionStorage, for the user who typed
 * them) and come back when the same form opens again, after a re-sign-in say; `form.draftRestored`
 * says so and `form.discardDraft()` goes back to the saved values. While the form has unsaved
 * changes, leaving it by a link or closing the tab asks first (LeaveGuard). Forms without a
 * draftKey (sign-in, registration) keep nothing and ask nothing.
 */
export function useForm(initial, submit, { draftKey } = {}) {
  const owner = useRef(currentUserId());
  const [stored] = useState(() => (draftKey ? readDraft(draftKey, owner.current) : null));
  const [values, setValuesState] = useState(stored || initial);
  const [saved, setSaved] = useState(initial);
  const [restored, setRestored] = useState(!!stored);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const done = useRef(false); // saved: the page is about to change, nothing is unsaved
  const ref = useRef(null);
  // Functional update: browser autofill sets several fields at once. The draft is written with
  // every change, not after the render, so a login ending a moment later still finds the last one.
  const set = (k) => (v) =>
    setValuesState((cur) => {
      const next = { ...cur, [k]: v };
      if (draftKey) keepDraft(next);
      return next;
    });
  const dirty = !done.current && !sameValues(values, saved);
  function keepDraft(v) {
    if (!sameValues(v, saved)) writeDraft(draftKey, owner.current, v);
    else sessionStorage.removeItem(DRAFT + draftKey);
  }

  // A record loaded into the form: it becomes what "unsaved" compares against; a kept draft wins.
  function setValues(v) {
    setSaved(v);
    const draft = draftKey ? readDraft(draftKey, owner.current) : null;
    setValuesState(draft || v);
    setRestored(!!draft);
  }

  // Only record forms (those with a draft) ask before leaving; sign-in and registration do not.
  useLeaveGuard(!!draftKey && dirty, () => sessionStorage.removeItem(DRAFT + draftKey));

  async function onSubmit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      done.current = true; // before submit(): its navigate() must not ask to leave
      await submit(values);
      if (draftKey) sessionStorage.removeItem(DRAFT + draftKey);
    } catch (err) {
      done.current = false;
      setError(err);
      setBusy(false);
      focusFirstError(ref.current);
    }
  }

  function discardDraft() {
    if (draftKey) sessionStorage.removeItem(DRAFT + draftKey);
    setValuesState(saved);
    setRestored(false);
  }

  return {
    values, setValues, set, error, errors: error ? error.fields : {}, busy, dirty, draftRestored: restored && dirty, discardDraft,
    props: { ref, onSubmit, novalidate: true },
  };
}

// ---- drafts and the leave guard ----

const DRAFT = 'hc.draft:';

function sameValues(a, b) {
  const keys = new Set([...Object.keys(a || {}), ...Object.keys(b || {})]);
  for (const k of keys) if (String(a[k] ?? '') !== String(b[k] ?? '')) return false;
  return true;
}

function readDraft(key, user) {
  try {
    const d = JSON.parse(sessionStorage.getItem(DRAFT + key) || 'null');
    if (d && d.user === user && user !== null && d.values) return d.values;
    if (d) sessionStorage.removeItem(DRAFT + key); // someone else's, or nobody's: never shown
  } catch {
    sessionStorage.removeItem(DRAFT + key);
  }
  return null;
}

function writeDraft(key, user, values) {
  if (user === null) return;
  try {
    sessionStorage.setItem(DRAFT + key, JSON.stringify({ user, values, at: Date.now() }));
  } catch {
    // Storage full or refused: the leave warning still protects the work.
  }
}

// The forms on screen with unsaved changes, each with what discarding them means.
const guards = new Map();
let askLeave = null; // set by LeaveGuard: (leave: () => void) => void

/**
 * Run leave() now, or, while a form has unsaved changes, once the user has said "Leave and
 * discard" (for ways out that are not links: the quick search, signing out).
 */
export function whenLeaving(leave) {
  if (guards.size && askLeave) askLeave(leave);
  else leave();
}

function useLeaveGuard(dirty, discard) {
  const id = useRef({});
  useEffect(() => {
    if (dirty) guards.set(id.current, discard);
    else guards.delete(id.current);
    return () => guards.delete(id.current);
  }, [dirty]);
}

function onDocumentClick(e) {
  if (!guards.size || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest && e.target.closest('a[href^="#"]');
  if (!a || a.target || a.getAttribute('href') === '#main' || !askLeave) return;
  const to = a.getAttribute('href').slice(1);
  if ('#' + to === location.hash) return;
  e.preventDefault();
  askLeave(() => navigate(to));
}

function onBeforeUnload(e) {
  if (!guards.size) return;
  e.preventDefault();
  e.returnValue = ''; // older browsers need a value to show their "Leave site?" question
}

/**
 * Asks before a link leaves a form with unsaved changes ("Stay" or "Leave and discard"), and has the
 * browser ask before the tab is closed or reloaded. Mounted once, by the app shell.
 */
export function LeaveGuard() {
  const [to, setTo] = useState(null); // what leaving does, while the question is open
  const ref = useRef(null);
  useEffect(() => {
    askLeave = (leave) => setTo(() => leave);
    document.addEventListener('click', onDocumentClick, true);
    window.addEventListener('beforeunload', onBeforeUnload);
    return () => {
      askLeave = null;
      document.removeEventListener('click', onDocumentClick, true);
      window.removeEventListener('beforeunload', onBeforeUnload);
    };
  }, []);
  useEffect(() => {
    const d = ref.current;
    if (!d) return undefined;
    if (to !== null && !d.open) d.showModal();
    if (to === null && d.open) d.close();
    const cancel = (e) => {
      e.preventDefault();
      setTo(null);
    };
    d.addEventListener('cancel', cancel);
    return () => d.removeEventListener('cancel', cancel);
  }, [to]);
  function leave() {
    for (const discard of guards.values()) discard();
    guards.clear();
    const go = to;
    setTo(null);
    go();
  }
  return html`<dialog id="leave-dialog" ref=${ref} aria-labelledby="leave-title" aria-describedby="leave-body">
    ${to !== null
      ? html`<article>
          <h2 id="leave-title">Leave without saving?</h2>
          <p id="leave-body">This form has changes that are not saved yet. If you leave now, they are lost.</p>
          <footer>
            <button type="button" class="secondary stay" autofocus onClick=${() => setTo(null)}>Stay on this form</button>
            <button type="button" class="danger leave" onClick=${leave}>Leave and discard</button>
          </footer>
        </article>`
      : null}
  </dialog>`;
}

/** Says that unsaved changes came back (after signing in again), with a way to drop them. */
export function DraftNote({ form }) {
  if (!form.draftRestored) return null;
  return html`<div class="banner-info draft-note" id="draft-note" role="status">
    <span>Your unsaved changes were kept and are filled in below. Check them, then save.</span>
    <button type="button" class="link" onClick=${form.discardDraft}>Discard them</button>
  </div>`;
}

/** The form's submit button, busy (and disabled) while the form is sent. */
export function SubmitButton({ form, children }) {
  return html`<button type="submit" aria-busy=${form.busy ? 'true' : 'false'} disabled=${form.busy}>${children}</button>`;
}

/** A labelled input whose server errors sit right under it (aria-invalid, aria-describedby). */
export function Field({ id, label, errors, hint, as = 'input', options, value, onInput, ...rest }) {
  const errs = errors && errors[rest.name || id];
  const errId = `${id}-error`;
  const hintId = `${id}-hint`;
  const described = [errs ? errId : '', hint ? hintId : ''].filter(Boolean).join(' ') || undefined;
  const common = {
    id,
    name: rest.name || id,
    value,
    'aria-invalid': errs ? 'true' : undefined,
    'aria-describedby': described,
    onInput: (e) => onInput(e.currentTarget.value),
    ...rest,
  };
  let control;
  if (as === 'select') {
    control = html`<select ...${common} onChange=${(e) => onInput(e.currentTarget.value)}>
      ${options.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
    </select>`;
  } else if (as === 'textarea') {
    control = html`<textarea ...${common} rows="2"></textarea>`;
  } else {
    control = html`<input ...${common} />`;
  }
  return html`<div class="field">
    <label for=${id}>${label}</label>
    ${control}
    ${hint && !errs ? html`<small id=${hintId} class="hint">${hint}</small>` : null}
    ${hint && errs ? html`<small id=${hintId} class="hint visually-hidden">${hint}</small>` : null}
    ${errs ? html`<small id=${errId} class="field-error">${errs.map((m) => html`<span class="msg">${m}</span>`)}</small>` : null}
  </div>`;
}

/** Errors that belong to no field (non_field_errors, detail, unreachable), at the top of the form. */
export function FormError({ error, fields = [] }) {
  if (!error) return null;
  const f = error.fields || {};
  const known = new Set(fields);
  const stray = Object.entries(f)
    .filter(([k]) => k !== 'non_field_errors' && !known.has(k))
    .map(([k, v]) => `${k}: ${v.join(' ')}`);
  const nonField = f.non_field_errors || [];
  const lines = [...nonField, ...stray];
  const showMessage = lines.length === 0 || (error.status !== 400 && error.message);
  return html`<div class="form-error" role="alert" tabindex="-1">
    ${showMessage ? html`<p>${error.message}</p>` : null}
    ${lines.map((l) => html`<p>${l}</p>`)}
  </div>`;
}

/** After a failed submit, move focus to the first invalid field (or the form's alert). */
export function focusFirstError(form) {
  requestAnimationFrame(() => {
    if (!form) return;
    const el = form.querySelector('[aria-invalid="true"]') || form.querySelector('.form-error');
    if (el) el.focus();
  });
}
