// The UI's only way to the cluster: the public REST API of the node that served the page.
// A signed-in user's session is an HttpOnly cookie the page cannot read; every state
// change carries the session's CSRF token in `X-CSRF-Token`. An API token (for clusters
// without users) goes in `Authorization` and lives only in this tab's sessionStorage.

const TOKEN_KEY = 'encluster.token';

const auth = {
  session: null,
  token: sessionStorage.getItem(TOKEN_KEY),
};

/** Every permission, from least to most. */
export const PERMISSIONS = ['read', 'operate', 'admin'];

/** An API refusal: its HTTP status and the server's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let unauthorized = () => {};

/** What to do when the API answers 401 (the session expired or was never there). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/** The headers that authenticate a request, for `fetch` calls made elsewhere (the stream). */
export function authHeaders() {
  return auth.token ? { Authorization: `Bearer ${auth.token}` } : {};
}

/** Send one request; the JSON answer, or an `ApiError` with the server's own words. */
export async function request(method, path, body) {
  const headers = { Accept: 'application/json', ...authHeaders() };
  if (method !== 'GET' && auth.session && auth.session.csrf) {
    headers['X-CSRF-Token'] = auth.session.csrf;
  }
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let answer;
  try {
    answer = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (failure) {
    throw new ApiError(0, `the node that serves this page did not answer (${failure.message})`);
  }
  const text = await answer.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!answer.ok) {
    const message = (data && data.error) || text || answer.statusText;
    if (answer.status === 401 && auth.session && path !== '/v1/session') unauthorized(message);
    throw new ApiError(answer.status, message);
  }
  return data;
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body === undefined ? {} : body);
export const put = (path, body) => request('PUT', path, body);
export const del = (path) => request('DELETE', path);

/** A path with URL-encoded parts: `path('v1', 'resources', name)`. */
export function path(...parts) {
  return '/' + parts.map(encodeURIComponent).join('/');
}

/** The signed-in user: `{user, role, permissions}`, or null. */
export function session() {
  return auth.session;
}

/** Whether the signed-in user holds `permission`. */
export function can(permission) {
  return !!auth.session && auth.session.permissions.includes(permission);
}

/** Sign in with a user name and password: the server sets the session cookie. */
export async function login(user, password) {
  auth.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  auth.session = await request('POST', '/v1/session', { user, password });
  return auth.session;
}

/** Sign in with an API token: the session it stands for, as the server describes it. */
export async function loginToken(token) {
  auth.token = token;
  try {
    auth.session = await describeToken();
  } catch (failure) {
    auth.token = null;
    throw failure;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  return auth.session;
}

async function describeToken() {
  try {
    return await request('GET', '/v1/session');
  } catch (failure) {
    if (failure.status !== 404 && failure.status !== 401) throw failure;
  }
  // A server that does not describe tokens has only admin tokens: check it with a read.
  await request('GET', '/v1/status');
  return { user: 'API token', role: 'admin', permissions: PERMISSIONS.slice(), csrf: null };
}

/** The session still valid from an earlier visit (cookie or stored token), or null. */
export async function restore() {
  try {
    auth.session = auth.token ? await describeToken() : await request('GET', '/v1/session');
  } catch {
    auth.session = null;
  }
  return auth.session;
}

/** Sign out: end the session on the server and forget the token. */
export async function logout() {
  const hadCookie = auth.session && !auth.token;
  auth.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  try {
    if (hadCookie) await request('DELETE', '/v1/session');
  } finally {
    auth.session = null;
  }
}
