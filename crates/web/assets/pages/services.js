// Virtual services (`lb` resources): each director's servers with health and live
// counters; add, remove, drain, enable, weight and algorithm. A server edit is a resource
// update of the service's parameters, exactly what `encluster lb server ...` sends.

import { h, fill, table, badge, note } from '../dom.js';
import { get, put, path } from '../api.js';
import { action, select, missing } from '../forms.js';
import { nodeNames, placement } from './resources.js';

const ALGORITHMS = ['round_robin', 'weighted_round_robin', 'least_connections',
  'weighted_least_connections', 'source_hash', 'maglev'];

function pairs(text) {
  return (text || '').split(',').map((s) => s.trim()).filter(Boolean).map((item) => {
    const at = item.indexOf('=');
    return [item.slice(0, at).trim(), item.slice(at + 1).trim()];
  });
}

function words(text) {
  return (text || '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** Apply one server edit to a service's parameters (as the CLI's `lb::edit`). */
function edited(params, edit) {
  const next = { ...params };
  const servers = pairs(params.servers);
  let weights = pairs(params.weights);
  let draining = words(params.draining);
  let disabled = words(params.disabled);
  const { verb, server } = edit;
  if (verb === 'add') {
    servers.push([server, edit.addr]);
    if (edit.weight) weights.push([server, edit.weight]);
  } else if (verb === 'remove') {
    const index = servers.findIndex(([n]) => n === server);
    if (index >= 0) servers.splice(index, 1);
    weights = weights.filter(([n]) => n !== server);
    draining = draining.filter((n) => n !== server);
    disabled = disabled.filter((n) => n !== server);
  } else if (verb === 'drain') {
    if (!draining.includes(server)) draining.push(server);
  } else if (verb === 'enable') {
    draining = draining.filter((n) => n !== server);
    disabled = disabled.filter((n) => n !== server);
  } else if (verb === 'weight') {
    weights = weights.filter(([n]) => n !== server);
    weights.push([server, edit.weight]);
  }
  next.servers = servers.map(([n, a]) => `${n}=${a}`).join(',');
  for (const [key, value] of [['weights', weights.map(([n, w]) => `${n}=${w}`).join(',')],
    ['draining', draining.join(',')], ['disabled', disabled.join(',')]]) {
    if (value) next[key] = value; else delete next[key];
  }
  return next;
}

async function change(name, makeParams) {
  const resource = await get(path('v1', 'resources', name));
  const spec = { ...resource.spec, params: makeParams(resource.spec.params) };
  await put(path('v1', 'resources', name), spec);
}

function serverRows(service, stats, after) {
  const edit = (verb, server, extra) => async () => {
    await change(service, (params) => edited(params, { verb, server, ...extra }));
    await after();
    return `${verb} ${server}: done`;
  };
  return stats.servers.map((server) => {
    const weight = h('input', { value: String(server.weight), size: 3, 'aria-label': `Weight of ${server.name}` });
    return [server.name, server.addr, badge(server.state),
      badge(server.healthy ? 'healthy' : 'unhealthy'), String(server.connections_active),
      String(server.connections_total), String(server.requests_total), String(server.errors_total),
      h('span', { class: 'actions' },
        server.state === 'active'
          ? action('Drain', 'operate', edit('drain', server.name), { 'aria-label': `Drain ${server.name}` })
          : action('Enable', 'operate', edit('enable', server.name), { 'aria-label': `Enable ${server.name}` }),
        weight, action('Set weight', 'operate', async () => edit('weight', server.name, { weight: weight.value.trim() })(),
          { 'aria-label': `Set weight of ${server.name}` }),
        action('Remove', 'admin', edit('remove', server.name), { 'aria-label': `Remove ${server.name}` }))];
  });
}

async function serviceBlock(resource, names, after) {
  const name = resource.spec.name;
  let stats;
  try {
    stats = await get(path('v1', 'lb', name, 'stats'));
  } catch (failure) {
    return h('section', { class: 'service' }, h('h2', null, name), note('warn', failure.message));
  }
  const server = h('input', { placeholder: 'name', size: 8, 'aria-label': `New server name for ${name}` });
  const addr = h('input', { placeholder: '127.0.0.1:8080', 'aria-label': `New server address for ${name}` });
  const algorithm = select(ALGORITHMS, resource.spec.params.algorithm || 'round_robin',
    { 'aria-label': `Algorithm of ${name}` });
  return h('section', { class: 'service', 'data-service': name },
    h('h2', null, `${name} `, h('span', { class: 'muted' },
      `listens on ${resource.spec.params.listen || '?'} · director ${placement(resource, names)}`)),
    h('p', null, `${stats.connections_active} connections open, ${stats.connections_total} in all, ` +
      `${stats.requests_total} requests, ${stats.errors_total} errors`),
    table(['Server', 'Address', 'State', 'Health', 'Open', 'Total', 'Requests', 'Errors', 'Actions'],
      serverRows(name, stats, after), { 'aria-label': `Servers of ${name}` }),
    h('div', { class: 'toolbar' }, server, addr,
      action('Add server', 'admin', async () => {
        await change(name, (params) => edited(params, { verb: 'add', server: server.value.trim(), addr: addr.value.trim() }));
        await after();
        return `added ${server.value}`;
      }),
      algorithm,
      action('Set algorithm', 'admin', async () => {
        await change(name, (params) => ({ ...params, algorithm: algorithm.value }));
        await after();
        return `${name}: ${algorithm.value}`;
      })));
}

export default {
  title: 'Virtual services',
  async mount(view) {
    const body = h('div');
    fill(view, h('h1', null, 'Virtual services'), missing('operate'), body);
    const update = async () => {
      const status = await get('/v1/status');
      const names = nodeNames(status);
      const services = status.resources.filter((r) => r.spec.type === 'lb');
      const blocks = await Promise.all(services.map((r) => serviceBlock(r, names, update)));
      fill(body, services.length ? blocks : h('p', { class: 'muted' }, 'No virtual services (lb resources).'));
    };
    return { update };
  },
};
