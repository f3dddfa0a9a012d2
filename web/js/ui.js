// Shared pieces: the hash router, states, pagination, dialogs, notices (the forms' parts are in form.js).
import { html, useState, useEffect, useRef, useCallback } from '../vendor/preact-htm/standalone.module.js';
import { state as apiState, subscribe } from './api.js';

export { html };

// ---- routing (hash based: the server has no fallback to index.html) ----

/** The current route: {path: "/patients/12", parts: ["patients","12"], query: URLSearchParams}. */
export function currentRoute() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  const clean = path.startsWith('/') ? path : '/' + path;
  return { path: clean, parts: clean.split('/').filter(Boolean), query: new URLSearchParams(qs), full: clean + (qs ? '?' + qs : '') };
}

export function navigate(to, { replace = false } = {}) {
  const target = '#' + to;
  if (location.hash === target) return;
  if (replace) {
    history.replaceState(null, '', target);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = to;
  }
}

export function useRoute() {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const on = () => setRoute(currentRoute());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Build "/path?k=v" leaving out empty values. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '' && v !== 0) q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// ---- notices: "Saved", "Deleted" in one polite live region ----
// A notice sits in the page flow under the header, not over it, so it never covers a button or a
// row; it stays until dismissed or until the user goes to another screen (no timer: nothing moves
// under the user's finger, and there is no deadline to read it).

let noticeSetter = null;
// The screen (route path) a notice belongs to: the one current once the code that made it has run,
// so a notice made just before navigate() belongs to the page the save leads to.
let noticePath = null;
export function notify(message) {
  if (!noticeSetter) return;
  noticePath = null;
  noticeSetter(message);
  queueMicrotask(() => (noticePath = currentRoute().path));
}

export function Notices() {
  const [msg, setMsg] = useState('');
  useEffect(() => {
    noticeSetter = setMsg;
    const onRoute = () => noticePath !== null && currentRoute().path !== noticePath && setMsg('');
    window.addEventListener('hashchange', onRoute);
    return () => {
      noticeSetter = null;
      window.removeEventListener('hashchange', onRoute);
    };
  }, []);
  function dismiss() {
    setMsg('');
    // The button goes away with the notice: keep focus in the page, not lost on <body>.
    const h = document.getElementById('page-title') || document.getElementById('main');
    if (h) h.focus();
  }
  // The live region is always in the DOM (screen readers announce changes to it, not its arrival);
  // the dismiss button stays outside it so only the message is read out.
  return html`<div class=${msg ? 'container notices shown' : 'container notices'}>
    <div class="notice">
      <p class="notice-body" id="notice" role="status" aria-live="polite" aria-atomic="true">${msg}</p>
      ${msg ? html`<button type="button" class="notice-close" id="notice-close" aria-label="Dismiss this message" onClick=${dismiss}>
          <span aria-hidden="true">×</span></button>` : null}
    </div>
  </div>`;
}

// ---- states ----

export function Loading({ label = 'Loading…' }) {
  return html`<div class="state loading" aria-busy="true" role="status">${label}</div>`;
}

// A div, not an <article>: role="alert" is not allowed on article (axe: aria-allowed-role).
export function ErrorState({ error, onRetry }) {
  const away = error && error.status === 0;
  return html`<div class="state error-state" role="alert">
    <h2 class="state-title">${away ? 'Cannot reach the server' : 'Something went wrong'}</h2>
    <p>${away ? 'The server cannot be reached. This loads again by itself as soon as the server answers.' : error ? error.message : 'Unknown error.'}</p>
    ${onRetry ? html`<button type="button" class="secondary" onClick=${onRetry}>Try again</button>` : null}
  </div>`;
}

export function Empty({ title, children }) {
  return html`<article class="state empty-state">
    <h2 class="state-title">${title}</h2>
    ${children}
  </article>`;
}

// ---- pagination ----

export function Pagination({ offset, limit, count, total, hasNext, onPage, label }) {
  const from = count ? offset + 1 : 0;
  const to = offset + count;
  const pages = total !== null && total !== undefined ? Math.max(1, Math.ceil(total / limit)) : null;
  const page = Math.floor(offset / limit) + 1;
  const canNext = total !== null && total !== undefined ? to < total : hasNext;
  return html`<nav class="pagination" aria-label=${label}>
    <p class="range" aria-live="polite">
      ${total !== null && total !== undefined ? `${from}–${to} of ${total}` : `${from}–${to}`}
      ${pages ? html`<span class="pages"> · page ${page} of ${pages}</span>` : null}
    </p>
    <div class="pager">
      <button type="button" class="secondary outline" disabled=${offset <= 0} onClick=${() => onPage(Math.max(0, offset - limit))}>
        ← Previous
      </button>
      <button type="button" class="secondary outline" disabled=${!canNext} onClick=${() => onPage(offset + limit)}>Next →</button>
    </div>
  </nav>`;
}

// ---- dialogs ----

/** A modal confirmation (native <dialog>: focus trap and Escape come with it). */
export function ConfirmDialog({ title, children, confirmLabel = 'Delete', busy, error, onConfirm, onCancel }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const cancel = (e) => {
      e.preventDefault();
      onCancel();
    };
    d.addEventListener('cancel', cancel);
    return () => {
      d.removeEventListener('cancel', cancel);
      if (d.open) d.close();
    };
  }, []);
  return html`<dialog ref=${ref} aria-labelledby="confirm-title" aria-describedby="confirm-body">
    <article>
      <h2 id="confirm-title">${title}</h2>
      <div id="confirm-body">${children}</div>
      ${error ? html`<p class="field-error" role="alert">${error.message}</p>` : null}
      <footer>
        <button type="button" class="secondary" onClick=${onCancel} autofocus>Cancel</button>
        <button type="button" class="danger" aria-busy=${busy ? 'true' : 'false'} disabled=${busy} onClick=${onConfirm}>${confirmLabel}</button>
      </footer>
    </article>
  </dialog>`;
}

// ---- small hooks ----

export function useDebounced(value, ms) {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/**
 * Load data with loading/error state; reload() runs it again. A load that failed because the server
 * could not be reached runs again by itself when the server answers again (api.js polls for that).
 */
export function useLoad(fn, deps) {
  const [st, setSt] = useState({ loading: true, error: null, value: null });
  const seq = useRef(0);
  const run = useCallback(() => {
    const mine = ++seq.current;
    setSt((s) => ({ ...s, loading: true, error: null }));
    fn().then(
      (value) => mine === seq.current && setSt({ loading: false, error: null, value }),
      (error) => mine === seq.current && setSt((s) => ({ loading: false, error, value: s.value })),
    );
  }, deps);
  useEffect(run, [run]);
  const away = !!(st.error && st.error.status === 0);
  useEffect(() => {
    if (!away) return undefined;
    return subscribe(() => !apiState.unreachable && run());
  }, [away, run]);
  return { ...st, reload: run };
}

// Keypresses, clicks and input counted, and the count when the page last changed: once they
// differ the user is busy on the new page (typing a new quick search while it loads, say), and
// focusWhenReady leaves focus where they are. The key or click that changed the page comes before
// the change, so it does not count.
let acts = 0;
let actsAtRoute = 0;
for (const t of ['keydown', 'pointerdown', 'input']) document.addEventListener(t, () => acts++, true);
window.addEventListener('hashchange', () => (actsAtRoute = acts), true);

/**
 * Focus an element once it exists (a page's heading appears after its data loads), unless the user
 * has already put focus somewhere on the new page or typed or clicked on it. find() returns the
 * element or null.
 */
export function focusWhenReady(find, { timeout = 5000 } = {}) {
  const start = performance.now();
  const before = document.activeElement;
  const step = () => {
    const a = document.activeElement;
    const userMoved = a && a !== before && a !== document.body && a.isConnected;
    if (userMoved || acts !== actsAtRoute) return;
    const el = find();
    if (el) el.focus();
    else if (performance.now() - start < timeout) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

/** Give the page a title and move focus to its heading, so screen readers hear the new page. */
export function usePageTitle(title) {
  useEffect(() => {
    document.title = title ? `${title} · Clinic admin` : 'Clinic admin';
  }, [title]);
}

/** "Patients" when every account sees every patient (patients.visibility clinic), else "My patients". */
export function patientsTitle() {
  return clinicMode() ? 'Patients' : 'My patients';
}

/** Whether the clinic policy patients.visibility is clinic (from /api/auth/me/). */
export function clinicMode() {
  const me = apiState.me;
  return !!(me && me.policies && me.policies['patients.visibility'] === 'clinic');
}

export const GENDERS = [
  ['M', 'Male'],
  ['F', 'Female'],
  ['O', 'Other'],
];
export const genderLabel = (g) => (GENDERS.find(([v]) => v === g) || [g, g])[1];

export function formatDate(s) {
  if (!s) return '';
  const d = new Date(s);
  if (isNaN(d)) return s;
  return d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
}
