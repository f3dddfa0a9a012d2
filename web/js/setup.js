// First run: while no administrator exists, the server logs a one-time setup token; typed in here
// with the first administrator's account, it creates that account and signs it in.
import { api, adoptTokens, ApiError } from './api.js';
import { html, navigate, notify, usePageTitle, useLoad, Loading, ErrorState } from './ui.js';
import { useForm, SubmitButton, Field, FormError } from './form.js';

const FIELDS = ['token', 'username', 'email', 'password', 'password2'];

export function Setup() {
  usePageTitle('Set up the clinic admin');
  const st = useLoad(async () => (await api('GET', '/api/setup/', { auth: false })).data, []);
  const form = useForm({ token: '', username: '', email: '', password: '', password2: '' }, async (f) => {
    if (f.password !== f.password2) throw new ApiError(400, { password2: ['The two password fields didn’t match.'] }, 'Some fields need attention.');
    const r = await api('POST', '/api/setup/', { auth: false, body: { token: f.token.trim(), username: f.username, email: f.email, password: f.password } });
    notify(`You are the administrator, ${r.data.user.username}. Add the clinic's accounts under Admin → Users.`);
    adoptTokens(r.data); // signed in: the guard leaves this public screen for home
    navigate('/users', { replace: true });
  });
  const { values: f, set, errors } = form;

  let body;
  if (st.error) body = html`<${ErrorState} error=${st.error} onRetry=${st.reload} />`;
  else if (!st.value) body = html`<${Loading} />`;
  else if (!st.value.required)
    body = html`<p class="banner-info" role="status" id="setup-done">This server already has an administrator. <a href="#/login">Sign in</a>, or ask an administrator for an account.</p>`;
  else
    body = html`<form ...${form.props} id="setup-form">
      <${FormError} error=${form.error} fields=${FIELDS} />
      <${Field} id="setup-token" name="token" label="Setup token" errors=${errors} value=${f.token} onInput=${set('token')}
        autocomplete="off" required autocapitalize="none" spellcheck="false"
        hint="Printed in the server's log at start (setup_token) while no administrator exists. It works once." />
      <${Field} id="setup-username" name="username" label="Administrator's username" errors=${errors} value=${f.username} onInput=${set('username')}
        autocomplete="username" required maxlength="150" autocapitalize="none" spellcheck="false" />
      <${Field} id="setup-email" name="email" label="Email" type="email" errors=${errors} value=${f.email} onInput=${set('email')}
        autocomplete="email" required />
      <${Field} id="setup-password" name="password" label="Password" type="password" errors=${errors} value=${f.password}
        onInput=${set('password')} autocomplete="new-password" required hint="At least 8 characters, not only digits, not a common password." />
      <${Field} id="setup-password2" name="password2" label="Repeat the password" type="password" errors=${errors} value=${f.password2}
        onInput=${set('password2')} autocomplete="new-password" required />
      <${SubmitButton} form=${form}>Create the administrator</${SubmitButton}>
    </form>`;

  return html`<main id="main" class="container auth-page">
    <article class="auth-card">
      <header>
        <h1 id="page-title" tabindex="-1">Set up the clinic admin</h1>
        <p class="muted">Create the first administrator. They add the clinic's accounts and choose its policies.</p>
      </header>
      ${body}
      <footer><a href="#/login">Back to sign-in</a></footer>
    </article>
  </main>`;
}

/** On the sign-in screen: a link to the first-run screen while the server has no administrator. */
export function SetupHint() {
  const st = useLoad(async () => (await api('GET', '/api/setup/', { auth: false })).data, []);
  if (!st.value || !st.value.required) return null;
  return html`<p class="banner-info" id="setup-hint">This server has no administrator yet. <a href="#/setup">Set it up</a> with the setup token from the server's log.</p>`;
}
