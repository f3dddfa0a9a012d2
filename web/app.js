// The clinic admin: the shell (header, navigation, banners), the routes, and the sign-in guard.
import { render, useState, useEffect } from './vendor/preact-htm/standalone.module.js';
import { api, state, subscribe, signOut, checkReachable, currentUserId, noteActivity, RETRY_MS } from './js/api.js';
import { html, useRoute, navigate, Notices, Empty, focusWhenReady, patientsTitle } from './js/ui.js';
import { LeaveGuard, whenLeaving } from './js/form.js';
import { Login, Register } from './js/auth.js';
import { DoctorsList, DoctorForm } from './js/doctors.js';
import { PatientsList, PatientForm, PatientDetail } from './js/patients.js';
import { Home } from './js/home.js';
import { QuickSearch } from './js/quicksearch.js';
import { Setup } from './js/setup.js';
import { Account, ForcedPassword, IdleWarning } from './js/account.js';
import { UsersList, UserNew, UserDetail } from './js/users.js';
import { Settings } from './js/settings.js';
import { Backups } from './js/backups.js';
import { Activity } from './js/activity.js';

const PUBLIC = new Set(['login', 'register', 'setup']);

// The administrators' screens: [route, label]. Only admins see these links; for anyone else the
// routes are "Page not found" (the API answers 403 to them anyway).
const ADMIN_LINKS = [
  ['users', 'Users'],
  ['settings', 'Settings'],
  ['backups', 'Backups'],
  ['activity', 'Activity'],
];
const ADMIN_ROUTES = new Set(ADMIN_LINKS.map(([r]) => r));

function useApiState() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const off = subscribe(() => setTick((t) => t + 1));
    setTick((t) => t + 1); // a change before this effect ran (another tab's answer) is not missed
    return off;
  }, []);
  return state;
}

// The signed-in account (role, must_change_password, policies, idle_timeout); loaded again when the
// account changes or something it says changed (state.meVersion). {failed: true} when it could not.
function useMe(signedIn, version, user) {
  const [me, setMe] = useState(null);
  useEffect(() => {
    if (!signedIn) {
      state.me = null;
      return setMe(null);
    }
    let live = true;
    setMe((m) => (m && String(m.id) === user ? m : null));
    api('GET', '/api/auth/me/').then((r) => {
      state.me = r.data; // for the printed "by whom", the wording of the lists
      if (live) setMe({ ...r.data, version }); // which state.meVersion it answers
    }, () => live && setMe((m) => m || { failed: true }));
    return () => (live = false);
  }, [signedIn, version, user]);
  return me;
}

function Header({ me, route, limited }) {
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
      ${limited ? null : html`<${QuickSearch} />`}
      <ul class="nav-links">
        ${limited ? null : html`
        ${link('#/home', 'Home', 'home', 'wide-only')}
        ${link('#/patients', html`<span class="wide-only">${patientsTitle()}</span><span class="narrow-only">Patients</span>`, 'patients')}
        ${link('#/doctors', 'Doctors', 'doctors')}
        ${me && me.role === 'admin' ? html`<li class="admin-menu">
          <details class="dropdown" id="admin-nav">
            <summary id="admin-menu" class=${ADMIN_ROUTES.has(section) ? 'active' : ''}>Admin</summary>
            <ul dir="rtl">
              ${ADMIN_LINKS.map(([r, label]) => html`<li dir="ltr"><a href=${'#/' + r} aria-current=${section === r ? 'page' : undefined}
                onClick=${(e) => (e.currentTarget.closest('details').open = false)}>${label}</a></li>`)}
            </ul>
          </details>
        </li>` : null}`}
        <li class="user-menu">
          <details class="dropdown" open=${open} onToggle=${(e) => setOpen(e.currentTarget.open)}>
            <summary aria-label=${me ? `Account: ${me.username}` : 'Account'} id="account-menu">${me ? me.username : 'Account'}</summary>
            <ul dir="rtl">
              ${me ? html`<li class="menu-note" dir="ltr"><small>${me.email || me.username}</small></li>` : null}
              ${limited ? null : html`<li dir="ltr"><a href="#/account" id="my-account">My account</a></li>`}
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
    case 'setup':
      return b ? html`<${NotFound} />` : html`<${Setup} />`;
    case 'account':
      if (!b) return html`<${Account} />`;
      if (b === 'password') return html`<${ForcedPassword} />`;
      return html`<${NotFound} />`;
    case 'users':
      if (!b) return html`<${UsersList} route=${route} />`;
      if (b === 'new' && !c) return html`<${UserNew} />`;
      if (id && !c) return html`<${UserDetail} key=${id} id=${id} />`;
      return html`<${NotFound} />`;
    case 'settings':
      return b ? html`<${NotFound} />` : html`<${Settings} />`;
    case 'backups':
      return b ? html`<${NotFound} />` : html`<${Backups} />`;
    case 'activity':
      return b ? html`<${NotFound} />` : html`<${Activity} route=${route} />`;
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
  const me = useMe(st.signedIn, st.meVersion, currentUserId());
  const isPublic = PUBLIC.has(route.parts[0]);
  // An administrator set this account's password: the password screen and nothing else.
  // (An answer from before the password was changed, while the new one loads, no longer counts.)
  const mustChange = st.signedIn && (st.mustChange || !!(me && me.must_change_password && me.version === st.meVersion));
  const forcedPath = '/account/password';

  // Any key, click, touch or wheel in any tab keeps the login from idling out.
  useEffect(() => {
    const on = () => noteActivity();
    const opts = { passive: true, capture: true };
    for (const ev of ['pointerdown', 'keydown', 'wheel', 'touchstart']) document.addEventListener(ev, on, opts);
    return () => {
      for (const ev of ['pointerdown', 'keydown', 'wheel', 'touchstart']) document.removeEventListener(ev, on, opts);
    };
  }, []);
  useEffect(() => {
    if (mustChange && route.path !== forcedPath) navigate(forcedPath, { replace: true });
  }, [mustChange, route.path]);

  // Guard: signed-out visitors go to sign-in, remembering where they were; signed-in ones skip it.
  useEffect(() => {
    if (st.booting) return; // a new tab: another tab may hand over its login
    if (route.parts.length === 0) navigate(st.signedIn ? '/home' : '/login', { replace: true });
    else if (!st.signedIn && !isPublic) navigate(st.signedOut ? '/login' : `/login?next=${encodeURIComponent(route.full)}`, { replace: true });
    else if (st.signedIn && isPublic) navigate(route.query.get('next') || '/home', { replace: true });
  }, [route.full, st.signedIn, st.booting]);

  // Move focus to the new page's heading so keyboard and screen-reader users start there; a page
  // that loads its record first (a patient) gets it once the heading is there, not on <body>.
  useEffect(() => {
    focusWhenReady(() => {
      if (document.querySelector('dialog[open]')) return null;
      return document.getElementById('page-title') || document.querySelector('main h1');
    });
  }, [route.path]);

  const adminOnly = ADMIN_ROUTES.has(route.parts[0]);
  const ready = !st.booting && route.parts.length > 0 && (isPublic ? !st.signedIn : st.signedIn && !!me)
    && (!mustChange || route.path === forcedPath);
  const content = !ready
    ? html`<main id="main" class="container"><div class="state loading" aria-busy="true">Loading…</div></main>`
    : adminOnly && me.role !== 'admin' ? html`<${NotFound} />` : page(route);
  return html`<a href="#main" class="skip-link" onClick=${(e) => {
      e.preventDefault();
      const m = document.getElementById('main');
      if (m) { m.setAttribute('tabindex', '-1'); m.focus(); }
    }}>Skip to content</a>
    ${st.unreachable ? html`<${UnreachableBanner} />` : null}
    ${st.signedIn && !isPublic ? html`<${Header} me=${me} route=${route} limited=${mustChange} />` : null}
    ${st.signedIn && me && me.idle_timeout ? html`<${IdleWarning} seconds=${me.idle_timeout} />` : null}
    <${Notices} />
    <${LeaveGuard} />
    ${content}
    <footer class="app-footer container"><small>Clinic admin · patient data stays on this server</small></footer>`;
}

render(html`<${App} />`, document.getElementById('app'));
