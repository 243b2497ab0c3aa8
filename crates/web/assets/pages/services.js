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

function serverRows(service, stats, after) {
  const edit = (verb, server, extra) => async () => {
    await editServer(service, { verb, server, ...extra });
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
        await editServer(name, { verb: 'add', server: server.value.trim(), addr: addr.value.trim() });
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
