// The dashboard: master and quorum, every node, resources by state and where each runs,
// directors and VIPs, running incidents and the latest events, all from three reads.

import { h, fill, table, badge, age, when, link, note } from '../dom.js';
import { get } from '../api.js';
import { eventsSince } from '../live.js';
import { resourceState, nodeNames, placement } from './resources.js';

function summary(status) {
  const master = status.nodes.find((n) => n.id === status.master);
  return h('div', { class: 'cards' },
    h('div', { class: 'card', id: 'card-master' }, h('h3', null, 'Master'),
      h('p', { class: 'big' }, master ? master.name : 'none'),
      h('p', null, 'Quorum: ', badge(status.quorum || 'unknown'), ` · term ${status.term}`)),
    h('div', { class: 'card' }, h('h3', null, 'Cluster'),
      h('p', { class: 'big' }, status.cluster_name),
      h('p', { id: 'dash-view' },
        `View of ${status.view || 'local'} · answered by node ${status.answered_by}`)),
    h('div', { class: 'card', id: 'card-counts' }, h('h3', null, 'Resources'),
      h('p', { class: 'big' }, String(status.resources.length)), counts(status.resources)));
}

function counts(resources) {
  const byState = {};
  for (const resource of resources) {
    const state = resourceState(resource);
    byState[state] = (byState[state] || 0) + 1;
  }
  return h('p', null, Object.entries(byState).sort().map(([state, count]) =>
    [badge(state, `${count} ${state}`), ' ']));
}

function nodeTable(status) {
  return table(['Node', 'State', 'Role', 'Heartbeat age', 'Mode'], status.nodes.map((node) => [
    h('span', null, node.name, node.is_master ? h('span', { class: 'badge info' }, 'master') : null),
    badge(node.state),
    node.role,
    age(node.last_heartbeat_ms),
    [node.standby ? badge('standby') : null, node.maintenance ? badge('maintenance') : null],
  ]), { id: 'dash-nodes', 'aria-label': 'Nodes' });
}

function servicesTable(status, names) {
  const wanted = status.resources.filter((r) => r.spec.type === 'vip' || r.spec.type === 'lb');
  if (wanted.length === 0) return h('p', { class: 'muted' }, 'No directors or VIPs.');
  return table(['Name', 'Kind', 'Address', 'Runs on', 'State'], wanted.map((resource) => [
    link(resource.spec.name, 'resources', resource.spec.name),
    resource.spec.type === 'lb' ? 'director' : 'VIP',
    resource.spec.params.ip || resource.spec.params.vip || resource.spec.params.listen || '',
    placement(resource, names),
    badge(resourceState(resource)),
  ]));
}

function resourceTable(status, names) {
  const rows = status.resources.slice(0, 200).map((resource) => [
    link(resource.spec.name, 'resources', resource.spec.name),
    resource.spec.type,
    badge(resourceState(resource)),
    placement(resource, names),
  ]);
  const more = status.resources.length > 200
    ? h('p', { class: 'muted' }, `${status.resources.length - 200} more on the resources page.`)
    : null;
  return [table(['Resource', 'Type', 'State', 'Runs on'], rows,
    { id: 'dash-resources', 'aria-label': 'Resources' }), more];
}

function incidentList(incidents) {
  const open = incidents.filter((i) => !i.closed);
  if (open.length === 0) return h('p', { class: 'muted', id: 'dash-incidents' }, 'No running incidents.');
  return h('ul', { id: 'dash-incidents' }, open.map((incident) => h('li', null,
    badge('critical', 'incident'), ` ${incident.cause} on ${incident.node_name}`,
    incident.resource ? ` (${incident.resource})` : '', ` since ${when(incident.detected_at_ms)}`)));
}

function eventList(events) {
  return h('ol', { class: 'events', id: 'dash-events', reversed: true },
    events.slice().reverse().map((event) => h('li', null,
      h('time', null, when(event.at_ms)), ' ', badge(event.severity || 'info'), ' ',
      event.message, event.actor ? h('span', { class: 'muted' }, ` by ${event.actor}`) : null)));
}

export default {
  title: 'Dashboard',
  async mount(view) {
    const body = h('div');
    fill(view, h('h1', null, 'Dashboard'), body);
    return {
      async update() {
        const status = await get('/v1/status');
        const [events, incidents] = await Promise.all([
          get(`/v1/events?since=${eventsSince(10)}`),
          get('/v1/incidents').catch(() => ({ incidents: [] })),
        ]);
        events.events = events.events.slice(-10);
        const names = nodeNames(status);
        fill(body,
          status.view === 'local' ? note('warn', 'This is the serving node\'s own copy: ' +
            (status.master_unreachable || 'no master could be asked') + '.') : null,
          summary(status),
          h('div', { class: 'columns' },
            h('div', null, h('h2', null, 'Nodes'), nodeTable(status),
              h('h2', null, 'Directors and VIPs'), servicesTable(status, names),
              h('h2', null, 'Running incidents'), incidentList(incidents.incidents)),
            h('div', null, h('h2', null, 'Resources'), resourceTable(status, names),
              h('h2', null, 'Latest events'), eventList(events.events))));
      },
    };
  },
};
