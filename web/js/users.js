// Administrators: the clinic's accounts. List (search, status and role filters, pages), create, and
// one account's page: deactivate or reactivate (approve), make or stop being an administrator,
// reset the password (the user chooses their own at the next sign-in), sign out everywhere.
import { useState } from '../vendor/preact-htm/standalone.module.js';
import { api, state as apiState } from './api.js';
import { html, navigate, notify, usePageTitle, useLoad, Loading, ErrorState, Empty, ConfirmDialog, Pagination, formatDate } from './ui.js';
import { useForm, SubmitButton, Field, FormError } from './form.js';
import { useResourceList, SearchBox, PageSize } from './list.js';

const STATUS = [
  ['', 'Everyone'],
  ['true', 'Active'],
  ['false', 'Deactivated or waiting for approval'],
];

function statusText(u) {
  if (!u.is_active) return u.last_login ? 'Deactivated' : 'Inactive (waiting for approval or deactivated)';
  return u.must_change_password ? 'Active · must choose a password' : 'Active';
}

const roleText = (r) => (r === 'admin' ? 'Administrator' : 'Staff');

export function UsersList({ route }) {
  usePageTitle('Users');
  const list = useResourceList(route, { base: '/users', url: '/api/admin/users/', filter: 'is_active' });
  const { params, go, load, rows, total } = list;
  return html`<main id="main" class="container" aria-labelledby="page-title">
    <div class="page-head">
      <h1 id="page-title" tabindex="-1">Users</h1>
      <div class="head-actions"><a href="#/users/new" role="button" id="add-user">Add user</a></div>
    </div>
    <div class="toolbar">
      <${SearchBox} id="user-search" label="Search users" placeholder="Username or email" value=${params.search}
        onSearch=${(s) => go({ search: s, offset: 0 })} />
      <div class="field">
        <label for="user-status">Status</label>
        <select id="user-status" value=${params.filter} onChange=${(e) => go({ filter: e.currentTarget.value, offset: 0 })}>
          ${STATUS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
        </select>
      </div>
      <${PageSize} id="user-page-size" value=${params.limit} onChange=${(n) => go({ limit: n, offset: 0 })} />
    </div>
    <div class="results" aria-busy=${load.loading ? 'true' : 'false'}>
      ${load.error
        ? html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`
        : load.loading && !load.value
          ? html`<${Loading} label="Loading users…" />`
          : rows.length === 0
            ? html`<${Empty} title="No users match"><p>Try another spelling, or clear the search.</p>
                <button type="button" class="secondary" onClick=${() => go({ search: '', filter: '', offset: 0 })}>Clear search</button></${Empty}>`
            : html`<table class="data-table" id="users-table">
                <caption class="visually-hidden">Users${total !== null ? `, ${total} in all` : ''}</caption>
                <thead><tr><th scope="col">Username</th><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Last sign-in</th></tr></thead>
                <tbody>
                  ${rows.map((u) => html`<tr key=${u.id} class=${u.is_active ? '' : 'inactive'}>
                    <td><a href=${`#/users/${u.id}`}>${u.username}</a></td>
                    <td>${u.email}</td>
                    <td>${roleText(u.role)}</td>
                    <td>${statusText(u)}</td>
                    <td>${u.last_login ? formatDate(u.last_login) : 'Never'}</td>
                  </tr>`)}
                </tbody>
              </table>
              <${Pagination} label="User pages" offset=${params.offset} limit=${params.limit} count=${rows.length} total=${total}
                hasNext=${load.value && load.value.next} onPage=${(o) => go({ offset: o }, false)} />`}
    </div>
  </main>`;
}

const NEW_FIELDS = ['username', 'email', 'password', 'role', 'must_change_password'];

export function UserNew() {
  usePageTitle('Add a user');
  const form = useForm({ username: '', email: '', password: '', role: 'staff', must_change_password: 'true' }, async (f) => {
    const r = await api('POST', '/api/admin/users/', { body: { ...f, must_change_password: f.must_change_password === 'true' } });
    notify(`Added ${r.data.username}.${r.data.must_change_password ? ' They choose their own password when they first sign in.' : ''}`);
    navigate(`/users/${r.data.id}`, { replace: true });
  });
  const { values: f, set, errors } = form;
  return html`<main id="main" class="container" aria-labelledby="page-title">
    <nav aria-label="Breadcrumb" class="crumbs"><ul><li><a href="#/users">Users</a></li><li aria-current="page">Add a user</li></ul></nav>
    <h1 id="page-title" tabindex="-1">Add a user</h1>
    <form ...${form.props} id="user-form" class="narrow-card">
      <${FormError} error=${form.error} fields=${NEW_FIELDS} />
      <${Field} id="user-username" name="username" label="Username" errors=${errors} value=${f.username} onInput=${set('username')}
        autocomplete="off" required maxlength="150" autocapitalize="none" spellcheck="false" hint="Letters, digits and @ . + - _ only." />
      <${Field} id="user-email" name="email" label="Email" type="email" errors=${errors} value=${f.email} onInput=${set('email')} autocomplete="off" required />
      <${Field} id="user-password" name="password" label="First password" type="password" errors=${errors} value=${f.password}
        onInput=${set('password')} autocomplete="new-password" required hint="Give it to them in person. At least 8 characters, not only digits, not a common password." />
      <${Field} id="user-role" name="role" label="Role" as="select" errors=${errors} value=${f.role} onInput=${set('role')}
        options=${[['staff', 'Staff'], ['admin', 'Administrator (accounts, policies, backups)']]} />
      <label class="check"><input type="checkbox" id="user-must-change" checked=${f.must_change_password === 'true'}
        onChange=${(e) => set('must_change_password')(e.currentTarget.checked ? 'true' : 'false')} />
        They choose their own password when they first sign in</label>
      <div class="form-actions">
        <${SubmitButton} form=${form}>Add user</${SubmitButton}>
        <a href="#/users" role="button" class="secondary outline">Cancel</a>
      </div>
    </form>
  </main>`;
}

function ResetPassword({ user, onDone }) {
  const form = useForm({ password: '' }, async (f) => {
    await api('PATCH', `/api/admin/users/${user.id}/`, { body: { password: f.password, must_change_password: true } });
    onDone(`New password set for ${user.username}. They choose their own when they next sign in; their sign-ins have ended.`);
  });
  const { values: f, set, errors } = form;
  return html`<form ...${form.props} id="reset-form">
    <${FormError} error=${form.error} fields=${['password']} />
    <${Field} id="reset-password" name="password" label="New password" type="password" errors=${errors} value=${f.password}
      onInput=${set('password')} autocomplete="new-password" required hint="Give it to them in person; they must change it when they sign in." />
    <${SubmitButton} form=${form}>Reset password</${SubmitButton}>
  </form>`;
}

export function UserDetail({ id }) {
  const [version, setVersion] = useState(0);
  const load = useLoad(async () => (await api('GET', `/api/admin/users/${id}/`)).data, [id, version]);
  const [busy, setBusy] = useState('');
  const [error, setError] = useState(null);
  const [confirm, setConfirm] = useState(null); // {title, body, label, run}
  const u = load.value;
  usePageTitle(u ? u.username : 'User');
  const self = u && apiState.me && apiState.me.id === u.id;

  async function act(name, fn, message) {
    setBusy(name);
    setError(null);
    try {
      await fn();
      notify(message);
      setConfirm(null);
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err); // e.g. 409: the last active administrator cannot be demoted or deactivated
      setConfirm(null);
      requestAnimationFrame(() => document.getElementById('user-action-error')?.focus());
    } finally {
      setBusy('');
    }
  }
  const patch = (body) => () => api('PATCH', `/api/admin/users/${id}/`, { body });

  if (load.error && !u) {
    return html`<main id="main" class="container">
      <nav aria-label="Breadcrumb" class="crumbs"><ul><li><a href="#/users">Users</a></li></ul></nav>
      ${load.error.status === 404
        ? html`<${Empty} title="User not found"><p>There is no such account. <a href="#/users">All users</a>.</p></${Empty}>`
        : html`<${ErrorState} error=${load.error} onRetry=${load.reload} />`}
    </main>`;
  }
  if (!u) return html`<main id="main" class="container"><${Loading} label="Loading the user…" /></main>`;
  return html`<main id="main" class="container" aria-labelledby="page-title">
    <nav aria-label="Breadcrumb" class="crumbs"><ul><li><a href="#/users">Users</a></li><li aria-current="page">${u.username}</li></ul></nav>
    <h1 id="page-title" tabindex="-1">${u.username}</h1>
    <dl class="details" id="user-facts">
      <dt>Email</dt><dd>${u.email}</dd>
      <dt>Role</dt><dd id="user-role-text">${roleText(u.role)}</dd>
      <dt>Status</dt><dd id="user-status-text">${statusText(u)}</dd>
      <dt>Joined</dt><dd>${formatDate(u.date_joined)}</dd>
      <dt>Last sign-in</dt><dd>${u.last_login ? formatDate(u.last_login) : 'Never'}</dd>
    </dl>
    ${error ? html`<div class="form-error" role="alert" tabindex="-1" id="user-action-error"><p>${error.message}</p></div>` : null}
    <section class="card" aria-labelledby="access-title">
      <h2 id="access-title">Access</h2>
      <div class="button-row">
        ${u.is_active
          ? html`<button type="button" class="danger" id="deactivate" disabled=${!!busy} onClick=${() => setConfirm({
              title: `Deactivate ${u.username}?`,
              body: 'They are signed out everywhere at once and cannot sign in until an administrator reactivates the account. Their patients stay.',
              label: 'Deactivate',
              run: () => act('deactivate', patch({ is_active: false }), `${u.username} is deactivated and signed out everywhere.`),
            })}>Deactivate</button>`
          : html`<button type="button" id="reactivate" disabled=${!!busy} aria-busy=${busy === 'reactivate' ? 'true' : 'false'}
              onClick=${() => act('reactivate', patch({ is_active: true }), `${u.username} can sign in again.`)}>${u.last_login ? 'Reactivate' : 'Approve or reactivate'}</button>`}
        ${u.role === 'admin'
          ? html`<button type="button" class="secondary" id="revoke-admin" disabled=${!!busy} aria-busy=${busy === 'role' ? 'true' : 'false'}
              onClick=${() => act('role', patch({ role: 'staff' }), `${u.username} is now staff.`)}>Remove administrator role</button>`
          : html`<button type="button" class="secondary" id="grant-admin" disabled=${!!busy} aria-busy=${busy === 'role' ? 'true' : 'false'}
              onClick=${() => act('role', patch({ role: 'admin' }), `${u.username} is now an administrator.`)}>Make administrator</button>`}
        <button type="button" class="secondary outline" id="logout-everywhere" disabled=${!!busy} aria-busy=${busy === 'logout' ? 'true' : 'false'}
          onClick=${() => act('logout', () => api('POST', `/api/admin/users/${id}/logout-everywhere/`), `${u.username} is signed out everywhere.`)}>Sign out everywhere</button>
      </div>
      ${self ? html`<p class="muted">This is your own account: deactivating it or removing its role signs you out of the admin screens.</p>` : null}
    </section>
    <section class="card narrow-card" aria-labelledby="reset-title">
      <h2 id="reset-title">Reset the password</h2>
      <${ResetPassword} key=${version} user=${u} onDone=${(msg) => {
        notify(msg);
        setVersion((v) => v + 1);
      }} />
    </section>
    ${confirm
      ? html`<${ConfirmDialog} title=${confirm.title} confirmLabel=${confirm.label} busy=${!!busy} onConfirm=${confirm.run}
          onCancel=${() => setConfirm(null)}><p>${confirm.body}</p></${ConfirmDialog}>`
      : null}
  </main>`;
}
