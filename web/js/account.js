// My account: change my password, see and end my logins; the forced password change (an
// administrator set the password); the warning a minute before an idle login is signed out.
import { useState, useEffect } from '../vendor/preact-htm/standalone.module.js';
import { api, adoptTokens, meChanged, lastActive, noteActivity, refreshAccess, endIdle, state as apiState } from './api.js';
import { html, navigate, notify, usePageTitle, useLoad, Loading, ErrorState, formatDate } from './ui.js';
import { useForm, SubmitButton, Field, FormError } from './form.js';

const PW_FIELDS = ['old_password', 'new_password1', 'new_password2'];

function PasswordForm({ onDone, submitLabel = 'Change password' }) {
  const form = useForm({ old_password: '', new_password1: '', new_password2: '' }, async (f) => {
    const r = await api('POST', '/api/auth/password/', { body: f });
    adoptTokens(r.data); // every other login of the account ended; this one goes on (in every tab)
    meChanged();
    onDone();
  });
  const { values: f, set, errors } = form;
  return html`<form ...${form.props} id="password-form">
    <${FormError} error=${form.error} fields=${PW_FIELDS} />
    <${Field} id="pw-old" name="old_password" label="Current password" type="password" errors=${errors} value=${f.old_password}
      onInput=${set('old_password')} autocomplete="current-password" required />
    <${Field} id="pw-new1" name="new_password1" label="New password" type="password" errors=${errors} value=${f.new_password1}
      onInput=${set('new_password1')} autocomplete="new-password" required hint="At least 8 characters, not only digits, not a common password." />
    <${Field} id="pw-new2" name="new_password2" label="Repeat the new password" type="password" errors=${errors} value=${f.new_password2}
      onInput=${set('new_password2')} autocomplete="new-password" required />
    <${SubmitButton} form=${form}>${submitLabel}</${SubmitButton}>
  </form>`;
}

/** The only screen of an account whose password an administrator set, until it chooses its own. */
export function ForcedPassword() {
  usePageTitle('Choose your password');
  return html`<main id="main" class="container auth-page">
    <article class="auth-card">
      <header>
        <h1 id="page-title" tabindex="-1">Choose your password</h1>
        <p id="forced-why">An administrator set the password you signed in with. Choose your own to continue: type the one you were given, then the new one.</p>
      </header>
      <${PasswordForm} submitLabel="Save and continue" onDone=${() => {
        notify('Your password is changed.');
        navigate('/home', { replace: true });
      }} />
    </article>
  </main>`;
}

function describeAgent(ua) {
  if (!ua) return 'Unknown device';
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : /curl|Go-http|python/i.test(ua) ? 'A program' : 'A browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}

function Sessions() {
  const [busy, setBusy] = useState('');
  const [error, setError] = useState(null);
  const load = useLoad(async () => (await api('GET', '/api/auth/sessions/')).data || [], []);
  async function end(path, what) {
    setBusy(path);
    setError(null);
    try {
      await api('DELETE', path);
      notify(what);
      load.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy('');
    }
  }
  const rows = load.value || [];
  const others = rows.filter((s) => !s.current).length;
  return html`<section class="card" aria-labelledby="sessions-title">
    <h2 id="sessions-title">Where you are signed in</h2>
    ${error ? html`<p class="form-error" role="alert">${error.message}</p>` : null}
    ${load.error
      ? html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`
      : !load.value
        ? html`<${Loading} label="Loading your sign-ins…" />`
        : html`<table class="data-table" id="sessions-table">
            <caption class="visually-hidden">Your sign-ins, newest first</caption>
            <thead><tr><th scope="col">Device</th><th scope="col">Address</th><th scope="col">Signed in</th><th scope="col">Last active</th>
              <th scope="col" class="actions-col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              ${rows.map((s) => html`<tr key=${s.id} class=${s.current ? 'current' : ''}>
                <td title=${s.user_agent}>${describeAgent(s.user_agent)} ${s.current ? html`<strong class="tag">this browser</strong>` : null}</td>
                <td>${s.client_address}</td>
                <td>${formatDate(s.created_at)} ${new Date(s.created_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</td>
                <td>${formatDate(s.last_used_at)} ${new Date(s.last_used_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</td>
                <td class="actions">${s.current ? null : html`<button type="button" class="link danger-link" aria-busy=${busy === s.id ? 'true' : 'false'}
                  aria-label=${`Sign out ${describeAgent(s.user_agent)} at ${s.client_address}`}
                  onClick=${() => end(`/api/auth/sessions/${s.id}/`, 'That sign-in has ended.')}>Sign out</button>`}</td>
              </tr>`)}
            </tbody>
          </table>
          <p><button type="button" class="secondary" id="end-other-sessions" disabled=${others === 0 || !!busy}
            onClick=${() => end('/api/auth/sessions/', 'Every other sign-in has ended.')}>Sign out everywhere else</button></p>`}
  </section>`;
}

export function Account() {
  usePageTitle('My account');
  const me = apiState.me;
  const [formKey, setFormKey] = useState(0);
  return html`<main id="main" class="container" aria-labelledby="page-title">
    <div class="page-head">
      <h1 id="page-title" tabindex="-1">My account</h1>
    </div>
    ${me ? html`<p class="muted" id="account-who">${me.username} · ${me.email} · ${me.role === 'admin' ? 'administrator' : 'staff'}</p>` : null}
    <section class="card narrow-card" aria-labelledby="password-title">
      <h2 id="password-title">Change your password</h2>
      <p class="muted">Your other sign-ins end; this browser stays signed in.</p>
      <${PasswordForm} key=${formKey} onDone=${() => {
        notify('Your password is changed. Your other sign-ins have ended.');
        setFormKey((k) => k + 1);
      }} />
    </section>
    <${Sessions} key=${'s' + formKey} />
  </main>`;
}

// ---- automatic logoff ----

const WARN_MS = 60_000;

/**
 * Warns a minute before the login ends for lack of activity (auth.idle_timeout, any tab counts),
 * and signs out every tab when it does. The server ends the login on its own too; this is so nobody
 * loses their place without being told.
 */
export function IdleWarning({ seconds }) {
  const limit = seconds * 1000;
  const [left, setLeft] = useState(limit);
  useEffect(() => {
    const tick = () => {
      const l = lastActive() + limit - Date.now();
      setLeft(l);
      if (l <= 0) {
        const mins = Math.round(seconds / 60);
        endIdle(`You were signed out after ${mins >= 2 ? `${mins} minutes` : `${seconds} seconds`} without activity. Sign in again to continue where you were.`);
      }
    };
    tick();
    const t = setInterval(tick, 1000);
    return () => clearInterval(t);
  }, [limit]);
  if (left > Math.min(WARN_MS, limit / 2)) return null;
  const secs = Math.max(0, Math.ceil(left / 1000));
  return html`<div class="container idle-warning" id="idle-warning">
    <div class="banner-warn" role="alert">
      <p><strong>You will be signed out soon.</strong> Nothing has been done in this browser for a while; to protect patient data you will be signed out in about ${secs > 50 ? 'a minute' : `${Math.max(10, Math.ceil(secs / 10) * 10)} seconds`}.</p>
      <button type="button" id="stay-signed-in" onClick=${() => {
        noteActivity();
        refreshAccess().catch(() => {});
      }}>Stay signed in</button>
    </div>
  </div>`;
}
