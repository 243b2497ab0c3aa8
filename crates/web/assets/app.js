// Cluman, the web UI of encluster: sign-in, the page frame, the routes (the URL fragment,
// `#/resources/web`), live updates and the banner that says when the serving node has
// lost its master or quorum. Pages live in pages/*.js; each builds its controls once
// (`mount`) and refreshes its data (`update`) whenever the cluster changed.

import { h, fill, note, refill } from './dom.js';
import * as api from './api.js';
import { connect } from './live.js';
import dashboard from './pages/dashboard.js';
import nodes from './pages/nodes.js';
import resources from './pages/resources.js';
import resourceForm from './pages/resource_form.js';
import groups from './pages/groups.js';
import services from './pages/services.js';
import graphs from './pages/graphs.js';
import events from './pages/events.js';
import types from './pages/types.js';
import users from './pages/users.js';

const PAGES = [
  ['', 'Dashboard', dashboard],
  ['nodes', 'Nodes', nodes],
  ['resources', 'Resources', resources],
  ['groups', 'Groups & constraints', groups],
  ['services', 'Virtual services', services],
  ['graphs', 'Graphs', graphs],
  ['events', 'Events & alerts', events],
  ['types', 'Resource types', types],
  ['users', 'Users', users],
];

const app = {
  page: null,
  mounted: null,
  stream: null,
  live: null,
  lostReason: null,
  updating: null,
  again: false,
};

function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart, queryPart] = raw.split('?');
  const parts = pathPart.split('/').filter((p) => p !== '').map(decodeURIComponent);
  const query = new URLSearchParams(queryPart || '');
  if (parts[0] === 'resources' && parts.length > 1) {
    return { page: resourceForm, args: parts.slice(1), query, key: 'resources' };
  }
  const entry = PAGES.find(([key]) => key === (parts[0] || '')) || PAGES[0];
  return { page: entry[2], args: parts.slice(1), query, key: entry[0] };
}

function renderNav(current) {
  fill(document.getElementById('nav'), PAGES.map(([key, title]) => h('a', {
    href: `#/${key}`,
    'aria-current': key === current ? 'page' : undefined,
  }, title)));
  const session = api.session();
  fill(document.getElementById('who'),
    h('span', { class: 'muted' }, `${session.user} (${session.role})`),
    h('button', { type: 'button', id: 'logout', onclick: signOut }, 'Sign out'));
}

async function show() {
  const { page, args, query, key } = route();
  renderNav(key);
  const main = document.getElementById('main');
  const view = h('section', { class: 'page' });
  fill(main, h('div', { id: 'toasts', 'aria-live': 'polite' }), view);
  app.page = page;
  app.mounted = null;
  document.title = `${page.title} · Cluman`;
  try {
    app.mounted = await page.mount(view, { args, query }) || {};
    await update();
  } catch (failure) {
    view.append(note('error', failure.message));
  }
}

// The least time between two refreshes: a cluster that changes many times a second is
// redrawn about three times a second, so the page stays responsive (and still shows a
// change well within a second).
const UPDATE_GAP_MS = 300;

function pause(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function update() {
  // One update at a time; a change during an update (or the gap after it) runs one more.
  if (app.updating) {
    app.again = true;
    return;
  }
  const mounted = app.mounted;
  if (!mounted || !mounted.update) return;
  app.updating = (async () => {
    try {
      await mounted.update();
      setStale(null);
    } catch (failure) {
      if (failure.status !== 401) setStale(`could not refresh: ${failure.message}`);
    }
    await pause(UPDATE_GAP_MS);
  })();
  await app.updating;
  app.updating = null;
  if (app.again) {
    app.again = false;
    await update();
  }
}

function setStale(reason) {
  app.lostReason = reason;
  renderBanner();
}

function renderBanner() {
  const banner = document.getElementById('banner');
  const live = app.live;
  const problems = [];
  if (app.lostReason) {
    problems.push(`Not live: ${app.lostReason}. What this page shows may be out of date.`);
  }
  if (live && live.master === null) {
    problems.push(`Node ${live.node_id}, which serves this page, has lost the master ` +
      '(no quorum): the state shown is its own last copy, not current, and changes ' +
      'cannot be made through it.');
  }
  banner.hidden = problems.length === 0;
  // Called on every stream message (up to ten a second): touch the page only on a change.
  refill(banner, JSON.stringify(problems), () => problems.map((text) => h('p', null, text)));
}

function startStream() {
  if (app.stream) app.stream.stop();
  app.stream = connect((state) => {
    const before = app.live;
    app.live = state;
    if (app.lostReason && app.lostReason.startsWith('the live stream')) app.lostReason = null;
    renderBanner();
    const moved = !before || before.applied !== state.applied
      || before.master !== state.master || before.node_id !== state.node_id;
    if (moved) update();
  }, (reason) => setStale(`the live stream broke (${reason})`));
}

function stopStream() {
  if (app.stream) app.stream.stop();
  app.stream = null;
  app.live = null;
}

async function signOut() {
  stopStream();
  try {
    await api.logout();
  } finally {
    showLogin('Signed out.');
  }
}

function showLogin(message) {
  stopStream();
  fill(document.getElementById('nav'));
  fill(document.getElementById('who'));
  document.getElementById('banner').hidden = true;
  document.title = 'Sign in · Cluman';
  const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true });
  const password = h('input', {
    id: 'login-password', name: 'password', type: 'password',
    autocomplete: 'current-password', required: true,
  });
  const token = h('input', { id: 'login-token', name: 'token', type: 'password', autocomplete: 'off' });
  const status = h('div', { class: 'login-status' }, message ? note('info', message) : null);
  const submit = async (event, useToken) => {
    event.preventDefault();
    fill(status);
    try {
      if (useToken) await api.loginToken(token.value.trim());
      else await api.login(user.value, password.value);
      password.value = '';
      started();
    } catch (failure) {
      const text = failure.status === 429
        ? `Too many failed sign-ins: ${failure.message}`
        : failure.message;
      fill(status, note('error', text));
    }
  };
  fill(document.getElementById('main'), h('section', { class: 'login' },
    h('h1', null, 'Sign in to Cluman'),
    h('form', { id: 'login-form', onsubmit: (e) => submit(e, false) },
      h('label', { for: 'login-user' }, 'User'), user,
      h('label', { for: 'login-password' }, 'Password'), password,
      h('button', { type: 'submit' }, 'Sign in')),
    h('details', null, h('summary', null, 'Sign in with an API token instead'),
      h('form', { id: 'token-form', onsubmit: (e) => submit(e, true) },
        h('label', { for: 'login-token' }, 'API token'), token,
        h('button', { type: 'submit' }, 'Use token'))),
    status));
  user.focus();
}

function started() {
  startStream();
  show();
}

api.onUnauthorized((message) => showLogin(`Please sign in again: ${message}`));
window.addEventListener('hashchange', () => {
  if (api.session()) show();
});

(async () => {
  if (await api.restore()) started();
  else showLogin();
})();
