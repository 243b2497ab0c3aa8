// Virtual services (`lb` resources): each director's servers with health and live
// counters; add, remove, drain, enable, weight and algorithm. A server edit is one request
// the cluster applies to the service as it is then, exactly what `encluster lb server ...`
// sends: drain, enable and weight are an operator's, add and remove an administrator's.

import { h, fill, table, badge, note } from '../dom.js';
import { get, put, post, del, path } from '../api.js';
import { action, select, missing } from '../forms.js';
import { nodeNames, placement } from './resources.js';

const ALGORITHMS = ['round_robin', 'weighted_round_robin', 'least_connections',
  'weighted_least_connections', 'source_hash', 'maglev'];

/** Send one server edit of service `name` (as `encluster lb server ...` does). */
async function editServer(name, edit) {
  const { verb, server } = edit;
  if (verb === 'add') {
    return post(path('v1', 'resources', name, 'servers'), { server, addr: edit.addr });
  }
  if (verb === 'remove') return del(path('v1', 'resources', name, 'servers', server));
  const weight = /^\d+$/.test(edit.weight || '') ? Number(edit.weight) : edit.weight;
  const body = verb === 'weight' ? { server, weight } : { server };
  return post(path('v1', 'resources', name, verb), body);
}

async function change(name, makeParams) {
  const resource = await get(path('v1', 'resources', name));
  const spec = { ...resource.spec, params: makeParams(resource.spec.params) };
  await put(path('v1', 'resources', name), spec);
}

/**
 * The controls a user types into or chooses in, and their buttons, kept from one redraw
 * to the next: the page is redrawn whenever the cluster changes, and a redraw must neither
 * wipe what the user is entering nor pull a button from under the pointer. A kept control
 * shows the cluster's `current` value until the user changes it.
 */
function keeper() {
  const kept = new Map();
  let used = new Set();
  const keep = (key, make, current) => {
    let control = kept.get(key);
    if (!control) {
      control = make();
      kept.set(key, control);
    } else if (current !== undefined && control.value === control.dataset.shown
      && document.activeElement !== control) {
      control.value = current;
    }
    if (current !== undefined && control.value === current) control.dataset.shown = current;
    used.add(key);
    return control;
  };
  // Forget the controls of servers and services the last redraw no longer showed.
  keep.sweep = () => {
    for (const key of kept.keys()) if (!used.has(key)) kept.delete(key);
    used = new Set();
  };
  return keep;
}

// A server that follows a resource (`servers=app=@app:8080`) is listed once per node that
// runs it, as `app:<node>`; an edit names the declared server, `app`.
const declared = (name) => (name.includes(':') ? name.slice(0, name.lastIndexOf(':')) : name);

function serverRows(service, stats, after, keep) {
  const edit = (verb, server, extra) => async () => {
    await editServer(service, { verb, server: declared(server), ...extra });
    await after();
    return `${verb} ${server}: done`;
  };
  return stats.servers.map((server) => {
    const key = `${service}/${server.name}`;
    const weight = keep(`${key}/weight`, () => h('input', { value: String(server.weight), size: 3,
      'aria-label': `Weight of ${server.name}` }), String(server.weight));
    return [server.name, server.addr, badge(server.state),
      badge(server.healthy ? 'healthy' : 'unhealthy'), String(server.connections_active),
      String(server.connections_total), String(server.requests_total), String(server.errors_total),
      h('span', { class: 'actions' },
        server.state === 'active'
          ? action('Drain', 'operate', edit('drain', server.name), { 'aria-label': `Drain ${server.name}` })
          : action('Enable', 'operate', edit('enable', server.name), { 'aria-label': `Enable ${server.name}` }),
        weight,
        keep(`${key}/set-weight`, () => action('Set weight', 'operate',
          async () => edit('weight', server.name, { weight: weight.value.trim() })(),
          { 'aria-label': `Set weight of ${server.name}` })),
        keep(`${key}/remove`, () => action('Remove', 'admin', edit('remove', server.name),
          { 'aria-label': `Remove ${server.name}` })))];
  });
}

/** The controls that add a server and set the algorithm of service `name`. */
function toolbar(name, current, after, keep) {
  const server = keep(`${name}/new-name`, () => h('input', { placeholder: 'name', size: 8,
    'aria-label': `New server name for ${name}` }));
  const addr = keep(`${name}/new-addr`, () => h('input', { placeholder: '127.0.0.1:8080',
    'aria-label': `New server address for ${name}` }));
  const algorithm = keep(`${name}/algorithm`, () => select(ALGORITHMS, current,
    { 'aria-label': `Algorithm of ${name}` }), current);
  return h('div', { class: 'toolbar' }, server, addr,
    keep(`${name}/add`, () => action('Add server', 'admin', async () => {
      const added = server.value.trim();
      await editServer(name, { verb: 'add', server: added, addr: addr.value.trim() });
      server.value = '';
      addr.value = '';
      await after();
      return `added ${added}`;
    })),
    algorithm,
    keep(`${name}/set-algorithm`, () => action('Set algorithm', 'admin', async () => {
      await change(name, (params) => ({ ...params, algorithm: algorithm.value }));
      await after();
      return `${name}: ${algorithm.value}`;
    })));
}

/** The director's counters of service `name`, or `{ failure }`. */
async function statsOf(name) {
  try {
    return await get(path('v1', 'lb', name, 'stats'));
  } catch (failure) {
    return { failure };
  }
}

function serviceBlock(resource, stats, names, after, keep) {
  const name = resource.spec.name;
  if (stats.failure) {
    return h('section', { class: 'service' }, h('h2', null, name), note('warn', stats.failure.message));
  }
  return h('section', { class: 'service', 'data-service': name },
    h('h2', null, `${name} `, h('span', { class: 'muted' },
      `listens on ${resource.spec.params.listen || '?'} · director ${placement(resource, names)}`)),
    h('p', null, `${stats.connections_active} connections open, ${stats.connections_total} in all, ` +
      `${stats.requests_total} requests, ${stats.errors_total} errors`),
    table(['Server', 'Address', 'State', 'Health', 'Open', 'Total', 'Requests', 'Errors', 'Actions'],
      serverRows(name, stats, after, keep), { 'aria-label': `Servers of ${name}` }),
    toolbar(name, resource.spec.params.algorithm || 'round_robin', after, keep));
}

/**
 * Where the user's focus is (and the text selected in it), to give it back after a redraw:
 * taken before the redraw is built, since building it moves the kept controls out of the
 * page, which takes their focus.
 */
function focusNow() {
  const element = document.activeElement;
  const typing = element && element.tagName === 'INPUT';
  return { element, selection: typing ? [element.selectionStart, element.selectionEnd] : null };
}

/** Redraw `body` with `children`, giving the focus back to the kept control that had it. */
function redraw(body, children, focus) {
  fill(body, children);
  const { element, selection } = focus;
  if (element && element !== document.activeElement && body.contains(element)) {
    element.focus();
    if (selection) element.setSelectionRange(selection[0], selection[1]);
  }
}

export default {
  title: 'Virtual services',
  async mount(view) {
    const body = h('div');
    fill(view, h('h1', null, 'Virtual services'), missing('operate'), body);
    const keep = keeper();
    const update = async () => {
      const status = await get('/v1/status');
      const names = nodeNames(status);
      const services = status.resources.filter((r) => r.spec.type === 'lb');
      const stats = await Promise.all(services.map((r) => statsOf(r.spec.name)));
      const focus = focusNow();
      const blocks = services.map((r, i) => serviceBlock(r, stats[i], names, update, keep));
      keep.sweep();
      redraw(body, services.length ? blocks
        : h('p', { class: 'muted' }, 'No virtual services (lb resources).'), focus);
    };
    return { update };
  },
};
