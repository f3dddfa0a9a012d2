// Sign-in and registration screens.
import { signIn, register, state } from './api.js';
import { html, navigate, usePageTitle } from './ui.js';
import { useForm, SubmitButton, Field, FormError } from './form.js';
import { SetupHint } from './setup.js';

/** Where to go after signing in: the page the user was on, if it was a page of the app. */
function nextFrom(route) {
  const next = route.query.get('next') || '';
  return next.startsWith('/') && !next.startsWith('/login') && !next.startsWith('/register') ? next : '/home';
}

export function Login({ route }) {
  usePageTitle('Sign in');
  const form = useForm({ username: route.query.get('username') || '', password: '' }, async (f) => {
    await signIn(f.username, f.password);
    navigate(nextFrom(route), { replace: true });
  });
  const { values: f, set, errors } = form;
  const registered = route.query.get('registered');

  return html`<main id="main" class="container auth-page">
    <article class="auth-card">
      <header>
        <h1 tabindex="-1">Sign in</h1>
        <p class="muted">Clinic admin: doctors, patients and their assignments.</p>
      </header>
      ${state.sessionEnded ? html`<p class="banner-info" role="status">${state.sessionEnded}</p>` : null}
      <${SetupHint} />
      ${registered ? html`<p class="banner-ok" role="status">Your account is ready. Sign in with it.</p>` : null}
      ${state.signedOut && !registered ? html`<p class="banner-ok" role="status">You are signed out.</p>` : null}
      <form ...${form.props} aria-describedby="login-help">
        <${FormError} error=${form.error} fields=${['username', 'password']} />
        <${Field} id="login-username" name="username" label="Username" errors=${errors} value=${f.username} onInput=${set('username')}
          autocomplete="username" required autocapitalize="none" spellcheck="false" />
        <${Field} id="login-password" name="password" label="Password" type="password" errors=${errors} value=${f.password}
          onInput=${set('password')} autocomplete="current-password" required />
        <${SubmitButton} form=${form}>Sign in</${SubmitButton}>
      </form>
      <footer id="login-help">No account yet? <a href="#/register">Create one</a>.</footer>
    </article>
  </main>`;
}

export function Register({ route }) {
  usePageTitle('Create an account');
  const form = useForm({ username: '', email: '', password: '', password2: '' }, async (f) => {
    await register(f);
    navigate(`/login?registered=1&username=${encodeURIComponent(f.username)}`, { replace: true });
  });
  const { values: f, set, errors, error } = form;
  const closed = error && error.status === 403;

  return html`<main id="main" class="container auth-page">
    <article class="auth-card">
      <header>
        <h1 tabindex="-1">Create an account</h1>
        <p class="muted">Each account keeps its own patients; the doctors directory is shared.</p>
      </header>
      ${closed
        ? html`<div class="form-error" role="alert"><p>${error.message}</p></div>`
        : html`<form ...${form.props}>
            <${FormError} error=${error} fields=${['username', 'email', 'password', 'password2']} />
            <${Field} id="reg-username" name="username" label="Username" errors=${errors} value=${f.username} onInput=${set('username')}
              autocomplete="username" required maxlength="150" autocapitalize="none" spellcheck="false"
              hint="Letters, digits and @ . + - _ only." />
            <${Field} id="reg-email" name="email" label="Email" type="email" errors=${errors} value=${f.email} onInput=${set('email')}
              autocomplete="email" required />
            <${Field} id="reg-password" name="password" label="Password" type="password" errors=${errors} value=${f.password}
              onInput=${set('password')} autocomplete="new-password" required
              hint="At least 8 characters, not only digits, not a common password." />
            <${Field} id="reg-password2" name="password2" label="Repeat the password" type="password" errors=${errors}
              value=${f.password2} onInput=${set('password2')} autocomplete="new-password" required />
            <${SubmitButton} form=${form}>Create account</${SubmitButton}>
          </form>`}
      <footer>Already have an account? <a href="#/login">Sign in</a>.</footer>
    </article>
  </main>`;
}
