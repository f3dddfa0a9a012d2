// The clinic admin: the shell (header, navigation, banners), the routes, and the sign-in guard.
import { render, useState, useEffect } from './vendor/preact-htm/standalone.module.js';
import { api, state, subscribe, signOut, checkReachable, RETRY_MS } from './js/api.js';
import { html, useRoute, navigate, Notices, Empty, focusWhenReady } from './js/ui.js';
import { LeaveGuard, whenLeaving } from './js/form.js';
import { Login, Register } from './js/auth.js';
import { DoctorsList, DoctorForm } from './js/doctors.js';
import { PatientsList, PatientForm, PatientDetail } from './js/patients.js';
import { Home } from './js/home.js';
import { QuickSearch } from './js/quicksearch.js';

const PUBLIC = new Set(['login', 'register']);

function useApiState() {
  const [, setTick] = useState(0);
  useEffect(() => subscribe(() => setTick((t) => t + 1)), []);
  return state;
}

function useMe(signedIn) {
  const [me, setMe] = useState(null);
  useEffect(() => {
    if (!signedIn) return setMe(null);
    let live = true;
    api('GET', '/api/auth/me/').then((r) => {
      state.me = r.data; // for the printed "by whom"
      if (live) setMe(r.data);
    }, () => {});
    return () => (live = false);
  }, [signedIn]);
  return me;
}

function Header({ me, route }) {
  const [open, setOpen] = useState(false);
  useEffect(() => setOpen(false), [route.path]);
  // The account menu closes on Escape (focus back on its button) and on a click elsewhere.
  useEffect(() => {
    if (!open) return;
    const onKey = (e) => {
      if (e.key === 'Escape') {
        setOpen(false);
        document.getElementById('account-menu')?.focus();
      }
    };
    const onClick = (e) => !e.target.closest('.user-menu') && setOpen(false);
    document.addEventListener('keydown', onKey);
    document.addEventListener('click', onClick);
    return () => {
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('click', onClick);
    };
  }, [open]);
  const section = route.parts[0];
  const link = (href, label, name, cls) =>
    html`<li class=${cls}><a href=${href} aria-current=${section === name ? 'page' : undefined} class=${section === name ? 'active' : ''}>${label}</a></li>`;
  function out() {
    whenLeaving(() => signOut()); // the guard below then shows the sign-in screen
  }
  return html`<header class="app-header">
    <nav class="container" aria-label="Main">
      <ul>
        <li><a href="#/home" class="brand" aria-label="Clinic admin, home"><img src="favicon.svg" alt="" width="24" height="24" /> <strong class="brand-text">Clinic admin</strong></a></li>
      </ul>
      <${QuickSearch} />
      <ul class="nav-links">
        ${link('#/home', 'Home', 'home', 'wide-only')}
        ${link('#/patients', html`<span class="wide-only">My patients</span><span class="narrow-only">Patients</span>`, 'patients')}
        ${link('#/doctors', 'Doctors', 'doctors')}
        <li class="user-menu">
          <details class="dropdown" open=${open} onToggle=${(e) => setOpen(e.currentTarget.open)}>
            <summary aria-label=${me ? `Account: ${me.username}` : 'Account'} id="account-menu">${me ? me.username : 'Account'}</summary>
            <ul dir="rtl">
              ${me ? html`<li class="menu-note" dir="ltr"><small>${me.email || me.username}</small></li>` : null}
              <li dir="ltr"><button type="button" class="link" id="sign-out" onClick=${out}>Sign out</button></li>
            </ul>
          </details>
        </li>
      </ul>
    </nav>
  </header>`;
}

function UnreachableBanner() {
  const [checking, setChecking] = useState(false);
  return html`<div class="offline-banner" role="alert" id="offline-banner">
    <div class="container">
      <span><strong>The server cannot be reached.</strong> ${`Nothing can be saved until it is back. This page checks again every ${RETRY_MS / 1000} seconds and reloads what failed once the server answers.`}</span>
      <button type="button" class="secondary small" aria-busy=${checking ? 'true' : 'false'}
        onClick=${async () => {
          setChecking(true);
          await checkReachable(); // the banner goes away once the server answers
          setChecking(false);
        }}>Try again</button>
    </div>
  </div>`;
}

function NotFound() {
  return html`<main id="main" class="container">
    <h1 id="page-title" tabindex="-1">Page not found</h1>
    <${Empty} title="There is nothing at this address">
      <p>Go <a href="#/home">home</a>, to <a href="#/patients">your patients</a> or to the <a href="#/doctors">doctors directory</a>.</p>
    </${Empty}>
  </main>`;
}

function page(route) {
  const [a, b, c] = route.parts;
  const id = b && /^\d+$/.test(b) ? b : undefined;
  switch (a) {
    case 'home':
      return b ? html`<${NotFound} />` : html`<${Home} />`;
    case 'login':
      return html`<${Login} route=${route} />`;
    case 'register':
      return html`<${Register} route=${route} />`;
    case 'doctors':
      if (!b) return html`<${DoctorsList} route=${route} />`;
      if (b === 'new') return html`<${DoctorForm} key="new" />`;
      if (id && c === 'edit') return html`<${DoctorForm} key=${id} id=${id} />`;
      return html`<${NotFound} />`;
    case 'patients':
      if (!b) return html`<${PatientsList} route=${route} />`;
      if (b === 'new') return html`<${PatientForm} key="new" />`;
      if (id && c === 'edit') return html`<${PatientForm} key=${'e' + id} id=${id} />`;
      if (id && !c) return html`<${PatientDetail} key=${id} id=${id} />`;
      return html`<${NotFound} />`;
    default:
      return html`<${NotFound} />`;
  }
}

function App() {
  const route = useRoute();
  const st = useApiState();
  const me = useMe(st.signedIn);
  const isPublic = PUBLIC.has(route.parts[0]);

  // Guard: signed-out visitors go to sign-in, remembering where they were; signed-in ones skip it.
  useEffect(() => {
    if (route.parts.length === 0) navigate(st.signedIn ? '/home' : '/login', { replace: true });
    else if (!st.signedIn && !isPublic) navigate(st.signedOut ? '/login' : `/login?next=${encodeURIComponent(route.full)}`, { replace: true });
    else if (st.signedIn && isPublic) navigate(route.query.get('next') || '/home', { replace: true });
  }, [route.full, st.signedIn]);

  // Move focus to the new page's heading so keyboard and screen-reader users start there; a page
  // that loads its record first (a patient) gets it once the heading is there, not on <body>.
  useEffect(() => {
    focusWhenReady(() => {
      if (document.querySelector('dialog[open]')) return null;
      return document.getElementById('page-title') || document.querySelector('main h1');
    });
  }, [route.path]);

  const ready = route.parts.length > 0 && (isPublic ? !st.signedIn : st.signedIn);
  return html`<a href="#main" class="skip-link" onClick=${(e) => {
      e.preventDefault();
      const m = document.getElementById('main');
      if (m) { m.setAttribute('tabindex', '-1'); m.focus(); }
    }}>Skip to content</a>
    ${st.unreachable ? html`<${UnreachableBanner} />` : null}
    ${st.signedIn && !isPublic ? html`<${Header} me=${me} route=${route} />` : null}
    <${Notices} />
    <${LeaveGuard} />
    ${ready ? page(route) : html`<main id="main" class="container"><div class="state loading" aria-busy="true">Loading…</div></main>`}
    <footer class="app-footer container"><small>Clinic admin · patient data stays on this server</small></footer>`;
}

render(html`<${App} />`, document.getElementById('app'));
