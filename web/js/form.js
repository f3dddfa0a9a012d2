// The add/edit and sign-in forms' common parts: the values, the submit cycle (busy submit button,
// the API's error kept for the fields and the form top, focus on the first invalid field), and the
// labelled fields that show the server's errors beside them.
import { useState, useRef } from '../vendor/preact-htm/standalone.module.js';
import { html } from './ui.js';

/**
 * One form's state. `submit(values)` does the request and what follows a success (notice, navigate);
 * while it runs the submit button is busy, and if it throws, its error is shown and focus moves to
 * the first invalid field. The button stays busy after a success: the page is about to change.
 * Spread `form.props` on the <form>; `form.set('name')` is a field's onInput.
 */
export function useForm(initial, submit) {
  const [values, setValues] = useState(initial);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const ref = useRef(null);
  // Functional update: browser autofill sets several fields at once.
  const set = (k) => (v) => setValues((cur) => ({ ...cur, [k]: v }));

  async function onSubmit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await submit(values);
    } catch (err) {
      setError(err);
      setBusy(false);
      focusFirstError(ref.current);
    }
  }

  return { values, setValues, set, error, errors: error ? error.fields : {}, busy, props: { ref, onSubmit, novalidate: true } };
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
