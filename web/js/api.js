// The JSON API client: tokens, transparent refresh with rotation, DRF-style errors, reachability.
// Tokens live in sessionStorage (this tab; it survives reloads, gone when the tab closes), never in
// localStorage, and are shared with the other tabs of this origin over a BroadcastChannel: a new tab
// asks for them, every change (sign-in, refresh, sign-out) is told to the others, and a Web Lock lets
// one tab at a time refresh (see README.md, "Sessions across tabs").

const TOKENS_KEY = 'hc.tokens';
const REFRESH_EARLY_MS = 30_000; // refresh the access token this long before it expires

let tokens = readTokens();
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('hc.auth') : null;
const ASK_MS = 300; // how long a new tab waits for another tab to hand over the login
let refreshing = null; // the one refresh in flight, shared by everyone who needs it
let refreshTimer = 0;
// Bumped when someone signs in or out: answers that arrive late for an older login (a refresh or a
// 401 started before the switch) must never overwrite or end the new login's tokens.
let generation = 0;
const listeners = new Set();

/** State everyone can subscribe to: signed in, server reachable, why the session ended. */
export const state = {
  signedIn: !!tokens,
  unreachable: false,
  sessionEnded: '', // message shown on the sign-in screen after an expired login
  signedOut: false, // the user signed out on purpose (no "return to" page then)
  booting: !tokens && !!channel, // a new tab asking the others for their login
  mustChange: false, // a 403 password_change_required arrived: only the password screen until changed
  meVersion: 0, // bumped when /api/auth/me/ says something else now (password changed, policies saved)
};

/** The user id a token pair belongs to (its access token's user_id claim), or null. */
function userOf(t) {
  if (!t) return null;
  try {
    const part = t.access.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const id = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4))).user_id;
    return id === undefined || id === null ? null : String(id);
  } catch {
    return null;
  }
}

function post(msg) {
  try {
    if (channel) channel.postMessage(msg);
  } catch {
    // A closed channel (the page is going away): nothing to tell.
  }
}

// What the other tabs of this browser say: their login (after a sign-in or a refresh, or for a new
// tab that asked), a sign-out, an ended login, user activity (for the idle timeout).
if (channel) {
  channel.onmessage = ({ data: m }) => {
    if (!m || typeof m !== 'object') return;
    if (m.t === 'ask') {
      if (tokens) post({ t: 'tokens', tokens });
    } else if (m.t === 'tokens' && m.tokens && m.tokens.access && m.tokens.refresh) {
      state.booting = false;
      if (tokens && tokens.refresh === m.tokens.refresh) return emit();
      if (userOf(tokens) !== userOf(m.tokens)) {
        generation++; // another account: answers for the old login must not touch this one
        refreshing = null;
      }
      state.sessionEnded = '';
      state.signedOut = false;
      refreshedAt = Date.now();
      writeTokens(m.tokens, { share: false });
    } else if (m.t === 'out') {
      forgetDrafts();
      forgetLogin({ signedOut: true });
    } else if (m.t === 'ended') {
      forgetLogin({ ended: m.message || 'Your session has ended. Sign in again to continue where you were.' });
    } else if (m.t === 'active' && typeof m.at === 'number') {
      lastActivity = Math.max(lastActivity, Math.min(m.at, Date.now()));
    } else if (m.t === 'me') {
      state.meVersion++;
      state.mustChange = false;
      emit();
    }
  };
  if (!tokens) {
    post({ t: 'ask' });
    setTimeout(() => {
      if (!state.booting) return;
      state.booting = false;
      emit();
    }, ASK_MS);
  }
}

function forgetLogin({ signedOut = false, ended = '' }) {
  generation++;
  refreshing = null;
  state.signedOut = signedOut;
  state.sessionEnded = ended;
  state.mustChange = false;
  writeTokens(null, { share: false });
}

/** Tell the other tabs to load /api/auth/me/ again (and do so here). */
export function meChanged() {
  state.meVersion++;
  state.mustChange = false;
  post({ t: 'me' });
  emit();
}

// ---- user activity, for the idle timeout (auth.idle_timeout) ----
// The server ends a login that was not refreshed for auth.idle_timeout, so the tabs refresh only
// when someone used one of them since the last refresh: an unattended screen signs itself out.

let lastActivity = Date.now(); // loading the page counts
let refreshedAt = 0;
let toldActivity = 0;

/** The last time the user did something in any tab of this browser (milliseconds). */
export function lastActive() {
  return lastActivity;
}

/** Record user activity (a key, a click, a touch, the wheel) and tell the other tabs now and then. */
export function noteActivity() {
  const now = Date.now();
  lastActivity = now;
  if (now - toldActivity > 5000) {
    toldActivity = now;
    post({ t: 'active', at: now });
  }
  // The access token ran out while nobody was here: refresh now, so the server sees the activity.
  if (tokens && !refreshing && msUntilStale(tokens.access) <= 0 && state.signedIn) refreshAccess().catch(() => {});
}

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit() {
  for (const fn of listeners) fn(state);
}

function readTokens() {
  try {
    const t = JSON.parse(sessionStorage.getItem(TOKENS_KEY) || 'null');
    return t && t.access && t.refresh ? t : null;
  } catch {
    return null;
  }
}

function writeTokens(t, { share = true } = {}) {
  tokens = t;
  if (t) sessionStorage.setItem(TOKENS_KEY, JSON.stringify(t));
  else sessionStorage.removeItem(TOKENS_KEY);
  state.signedIn = !!t;
  if (t) state.booting = false;
  scheduleRefresh();
  emit();
  if (share && t) post({ t: 'tokens', tokens: t });
}

/** Seconds-since-epoch expiry of a JWT, read without verifying (the server verifies). */
export function tokenExpiry(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = atob(part + '='.repeat((4 - (part.length % 4)) % 4));
    const exp = JSON.parse(json).exp;
    return typeof exp === 'number' ? exp : 0;
  } catch {
    return 0;
  }
}

function msUntilStale(jwt) {
  const exp = tokenExpiry(jwt);
  if (!exp) return 0;
  return exp * 1000 - Date.now() - REFRESH_EARLY_MS;
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!tokens) return;
  // A little jitter: tabs loaded together do not all ask for the lock at the same moment.
  const wait = Math.max(msUntilStale(tokens.access), 1000) + Math.floor(Math.random() * 500);
  refreshTimer = setTimeout(() => {
    // Nobody did anything since the last refresh: let the login idle out (noteActivity refreshes
    // as soon as someone comes back).
    if (lastActivity <= refreshedAt) return;
    refreshAccess().catch(() => {}); // failures end the session or mark the server unreachable
  }, wait);
}

/** An error from the API, or from failing to reach it (status 0). */
export class ApiError extends Error {
  constructor(status, data, message) {
    super(message);
    this.status = status;
    this.data = data;
  }
  /** Field errors in DRF shape: {field: ["msg"]}; non-field ones are under non_field_errors. */
  get fields() {
    const d = this.data;
    if (!d || typeof d !== 'object' || Array.isArray(d)) return {};
    const out = {};
    for (const [k, v] of Object.entries(d)) {
      if (k === 'detail' || k === 'code' || k === 'messages') continue;
      out[k] = Array.isArray(v) ? v.map(String) : [typeof v === 'string' ? v : JSON.stringify(v)];
    }
    return out;
  }
}

/** Thrown when the login ended (refresh refused); the app sends the user to sign in. */
export class SessionEnded extends ApiError {}

function messageFor(status, data, headers) {
  if (status === 0) return 'The server cannot be reached. Check that it is running and your network, then try again.';
  if (status === 429) {
    const after = Number(headers && headers.get('Retry-After'));
    const wait = !after ? 'a moment' : after < 90 ? `${after} seconds` : `about ${Math.ceil(after / 60)} minutes`;
    return `Too many attempts. Wait ${wait} and try again.`;
  }
  if (data && typeof data.detail === 'string') return data.detail;
  if (data && Array.isArray(data.non_field_errors)) return data.non_field_errors.join(' ');
  if (status === 400) return 'Some fields need attention.';
  if (status === 404) return 'Not found. It may have been deleted.';
  if (status >= 500) return 'The server ran into a problem. Try again in a moment.';
  return `The request failed (HTTP ${status}).`;
}

function setUnreachable(v) {
  if (state.unreachable === v) return;
  state.unreachable = v;
  emit();
  if (v) pollReachability();
}

let pollTimer = 0;
function pollReachability() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    try {
      await fetch('/readyz', { cache: 'no-store' });
      setUnreachable(false);
    } catch {
      pollReachability();
    }
  }, RETRY_MS);
}

/** How often, in milliseconds, the server is asked again while it cannot be reached. */
export const RETRY_MS = 4000;

/** Check now whether the server answers (the banner's "Try again"). */
export async function checkReachable() {
  try {
    await fetch('/readyz', { cache: 'no-store' });
    setUnreachable(false);
    return true;
  } catch {
    setUnreachable(true);
    return false;
  }
}

async function send(method, path, body, access) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (access) headers.Authorization = `Bearer ${access}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    setUnreachable(true);
    throw new ApiError(0, null, messageFor(0));
  }
  setUnreachable(false);
  let data = null;
  const text = res.status === 204 ? '' : await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  return { res, data };
}

/** The signed-in user's id (the token's user_id claim, a number or a string), or null. */
export function currentUserId() {
  if (!tokens) return null;
  try {
    const part = tokens.access.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const id = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4))).user_id;
    return id === undefined || id === null ? null : String(id);
  } catch {
    return null;
  }
}

/** Forget every unsaved form kept in this tab (form.js keeps them under hc.draft:…). */
export function forgetDrafts() {
  for (const k of Object.keys(sessionStorage)) if (k.startsWith('hc.draft:')) sessionStorage.removeItem(k);
}

function endSession(message) {
  forgetLogin({ ended: message });
  post({ t: 'ended', message });
}

/**
 * Sign out because nobody used the app for auth.idle_timeout (every tab): revoke the login on the
 * server (best effort) and say why on the sign-in screen.
 */
export function endIdle(message) {
  const t = tokens;
  endSession(message);
  if (t) send('POST', '/api/auth/logout/', { refresh: t.refresh }, t.access).catch(() => {});
}

// One refresh at a time across the tabs: Web Locks where the browser has them (secure contexts:
// https, localhost). Elsewhere two tabs may refresh at once; the server's refresh grace window
// gives both the same successor, so neither is signed out.
function oneAtATime(fn) {
  return typeof navigator !== 'undefined' && navigator.locks ? navigator.locks.request('hc.refresh', fn) : fn();
}

/** Exchange the refresh token for a new pair; keep the NEW refresh token (rotation). */
export function refreshAccess() {
  if (!tokens) return Promise.reject(new SessionEnded(401, null, 'Please sign in.'));
  if (!refreshing) {
    const current = tokens;
    const gen = generation;
    const stale = () => new SessionEnded(401, null, 'The login changed. Try again.');
    refreshing = oneAtATime(async () => {
      if (gen !== generation || !tokens) throw stale();
      // Another tab refreshed while this one waited for the lock: its tokens are already here.
      if (tokens.refresh !== current.refresh && msUntilStale(tokens.access) > 0) return tokens.access;
      const latest = tokens;
      const { res, data } = await send('POST', '/api/auth/login/refresh/', { refresh: latest.refresh });
      if (gen !== generation) throw stale();
      if (res.ok && data && data.access) {
        refreshedAt = Date.now();
        writeTokens({ access: data.access, refresh: data.refresh || latest.refresh });
        return tokens.access;
      }
      if (res.status === 401 || res.status === 400 || res.status === 403) {
        endSession('Your session has ended. Sign in again to continue where you were.');
        throw new SessionEnded(res.status, data, 'Your session has ended. Sign in again.');
      }
      throw new ApiError(res.status, data, messageFor(res.status, data, res.headers));
    }).finally(() => {
      if (gen === generation) refreshing = null;
    });
  }
  return refreshing;
}

async function freshAccess() {
  if (!tokens) throw new SessionEnded(401, null, 'Please sign in.');
  if (refreshing) return refreshing;
  if (msUntilStale(tokens.access) <= 0) return refreshAccess();
  return tokens.access;
}

/**
 * Call the API. Returns {data, total, next, prev, status}; throws ApiError (status 0 when the server
 * cannot be reached) or SessionEnded. query: object of list parameters; empty values are left out.
 */
export async function api(method, path, { body, query, auth = true } = {}) {
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    const s = q.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  const gen = generation;
  let access = auth ? await freshAccess() : null;
  let { res, data } = await send(method, url, body, access);
  if (auth && res.status === 401 && gen !== generation) {
    throw new SessionEnded(401, data, 'The login changed. Try again.'); // not this login's answer
  }
  if (auth && res.status === 401 && data && data.code === 'token_not_valid') {
    access = await refreshAccess(); // one refresh and one retry
    ({ res, data } = await send(method, url, body, access));
  }
  if (auth && res.status === 401) {
    if (gen === generation) endSession('Your session has ended. Sign in again to continue where you were.');
    throw new SessionEnded(401, data, 'Your session has ended. Sign in again.');
  }
  if (auth && res.status === 403 && data && data.code === 'password_change_required' && !state.mustChange) {
    state.mustChange = true; // the app shows the password screen and nothing else
    emit();
  }
  if (!res.ok) throw new ApiError(res.status, data, messageFor(res.status, data, res.headers));
  const total = res.headers.get('X-Total-Count');
  const link = res.headers.get('Link') || '';
  return {
    status: res.status,
    data,
    total: total === null ? null : Number(total),
    next: /rel="?next"?/.test(link),
    prev: /rel="?prev"?/.test(link),
  };
}

/** Fetch every page of a list (for small collections such as the caller's assignments). */
export async function listAll(path, query = {}) {
  const out = [];
  const limit = 1000;
  for (let offset = 0; ; offset += limit) {
    const r = await api('GET', path, { query: { ...query, limit, offset } });
    const rows = Array.isArray(r.data) ? r.data : [];
    out.push(...rows);
    if (rows.length < limit || (r.total !== null && out.length >= r.total)) return out;
  }
}

export async function signIn(username, password) {
  const { res, data } = await send('POST', '/api/auth/login/', { username, password });
  if (!res.ok || !data || !data.access) throw new ApiError(res.status, data, messageFor(res.status, data, res.headers));
  adoptTokens(data);
}

/** A new login from the API (sign-in, first-run setup, password change): keep it, tell the tabs. */
export function adoptTokens(data) {
  state.sessionEnded = '';
  state.signedOut = false;
  if (userOf(tokens) !== userOf(data)) {
    generation++;
    refreshing = null;
  }
  refreshedAt = Date.now();
  writeTokens({ access: data.access, refresh: data.refresh });
}

/** Download an API file (a backup) with this login's token; resolves to a Blob. */
export async function apiBlob(path) {
  const access = await freshAccess();
  let res;
  try {
    res = await fetch(path, { headers: { Authorization: `Bearer ${access}` }, cache: 'no-store', credentials: 'omit' });
  } catch {
    setUnreachable(true);
    throw new ApiError(0, null, messageFor(0));
  }
  if (!res.ok) {
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    throw new ApiError(res.status, data, messageFor(res.status, data, res.headers));
  }
  return res.blob();
}

export async function register(fields) {
  const { res, data } = await send('POST', '/api/auth/register/', fields);
  if (!res.ok) {
    let msg = messageFor(res.status, data, res.headers);
    if (res.status === 403) msg = (data && data.detail) || 'Registration is closed. Ask an administrator for an account.';
    throw new ApiError(res.status, data, msg);
  }
  return data;
}

/** Sign out: revoke the login on the server (best effort), forget the tokens here. */
export async function signOut() {
  const t = tokens;
  forgetDrafts(); // signing out on purpose leaves nothing behind for the next person at this screen
  forgetLogin({ signedOut: true });
  post({ t: 'out' });
  if (!t) return;
  try {
    await send('POST', '/api/auth/logout/', { refresh: t.refresh }, t.access);
  } catch {
    // The tokens are gone from this tab either way; the refresh token expires on its own.
  }
}

scheduleRefresh();
