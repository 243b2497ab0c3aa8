// The dashboard: master and quorum, every node, resources by state and where each runs,
// directors and VIPs, running incidents and the latest events, all from three reads.
// Its parts are built once; each refresh (several a second while the cluster changes)
// updates only the rows, cells and texts that changed, so the page stays responsive with
// 100 nodes and 1,000 resources.

import { h, badge, age, when, link, note, liveTable, refill, setText } from '../dom.js';
import { get } from '../api.js';
import { eventsSince } from '../live.js';
import { resourceState, nodeNames, placement } from './resources.js';

/** How many resources the dashboard lists; the resources page has them all. */
const RESOURCE_ROWS_MAX = 200;

function counts(resources) {
  const byState = {};
  for (const resource of resources) {
    const state = resourceState(resource);
    byState[state] = (byState[state] || 0) + 1;
  }
  return Object.entries(byState).sort();
}

/** The three cards at the top; `show(status)` updates what they say. */
function summary() {
  const master = h('p', { class: 'big' });
  const quorum = h('p');
  const cluster = h('p', { class: 'big' });
  const view = h('p', { id: 'dash-view' });
  const total = h('p', { class: 'big' });
  const byState = h('p');
  const el = h('div', { class: 'cards' },
    h('div', { class: 'card', id: 'card-master' }, h('h3', null, 'Master'), master, quorum),
    h('div', { class: 'card' }, h('h3', null, 'Cluster'), cluster, view),
    h('div', { class: 'card', id: 'card-counts' }, h('h3', null, 'Resources'), total, byState));
  const show = (status) => {
    const found = status.nodes.find((n) => n.id === status.master);
    setText(master, found ? found.name : 'none');
    refill(quorum, `${status.quorum}|${status.term}`, () =>
      ['Quorum: ', badge(status.quorum || 'unknown'), ` · term ${status.term}`]);
    setText(cluster, status.cluster_name);
    setText(view, `View of ${status.view || 'local'} · answered by node ${status.answered_by}`);
    setText(total, String(status.resources.length));
    const states = counts(status.resources);
    refill(byState, JSON.stringify(states), () =>
      states.map(([state, count]) => [badge(state, `${count} ${state}`), ' ']));
  };
  return { el, show };
}

function nodeTable() {
  return liveTable(['Node', 'State', 'Role', 'Heartbeat age', 'Mode'], [
    {
      key: (node) => `${node.name}|${node.is_master}`,
      build: (node) => h('span', null, node.name,
        node.is_master ? h('span', { class: 'badge info' }, 'master') : null),
    },
    { key: (node) => node.state, build: (node) => badge(node.state) },
    { text: (node) => node.role },
    { text: (node) => age(node.last_heartbeat_ms) },
    {
      key: (node) => `${node.standby}|${node.maintenance}`,
      build: (node) => [node.standby ? badge('standby') : null,
        node.maintenance ? badge('maintenance') : null],
    },
  ], { id: 'dash-nodes', 'aria-label': 'Nodes' });
}

function isService(resource) {
  return resource.spec.type === 'vip' || resource.spec.type === 'lb';
}

function servicesTable(names) {
  return liveTable(['Name', 'Kind', 'Address', 'Runs on', 'State'], [
    { key: (r) => r.spec.name, build: (r) => link(r.spec.name, 'resources', r.spec.name) },
    { text: (r) => (r.spec.type === 'lb' ? 'director' : 'VIP') },
    { text: (r) => r.spec.params.ip || r.spec.params.vip || r.spec.params.listen || '' },
    { text: (r) => placement(r, names()) },
    { key: resourceState, build: (r) => badge(resourceState(r)) },
  ], { id: 'dash-services', 'aria-label': 'Directors and VIPs' });
}

function resourceTable(names) {
  return liveTable(['Resource', 'Type', 'State', 'Runs on'], [
    { key: (r) => r.spec.name, build: (r) => link(r.spec.name, 'resources', r.spec.name) },
    { text: (r) => r.spec.type },
    { key: resourceState, build: (r) => badge(resourceState(r)) },
    { text: (r) => placement(r, names()) },
  ], { id: 'dash-resources', 'aria-label': 'Resources' });
}

function incidentList(incidents) {
  const open = incidents.filter((i) => !i.closed);
  if (open.length === 0) return h('p', { class: 'muted' }, 'No running incidents.');
  return h('ul', null, open.map((incident) => h('li', null,
    badge('critical', 'incident'), ` ${incident.cause} on ${incident.node_name}`,
    incident.resource ? ` (${incident.resource})` : '',
    ` since ${when(incident.detected_at_ms)}`)));
}

function eventItems(events) {
  return events.slice().reverse().map((event) => h('li', null,
    h('time', null, when(event.at_ms)), ' ', badge(event.severity || 'info'), ' ',
    event.message, event.actor ? h('span', { class: 'muted' }, ` by ${event.actor}`) : null));
}

export default {
  title: 'Dashboard',
  async mount(view) {
    let names = new Map();
    const local = h('div');
    const cards = summary();
    const nodes = nodeTable();
    const services = servicesTable(() => names);
    const noServices = h('p', { class: 'muted' }, 'No directors or VIPs.');
    const resources = resourceTable(() => names);
    const more = h('p', { class: 'muted' });
    const incidents = h('div', { id: 'dash-incidents' });
    const events = h('ol', { class: 'events', id: 'dash-events', reversed: true });
    const body = h('div', null, local, cards.el, h('div', { class: 'columns' },
      h('div', null, h('h2', null, 'Nodes'), nodes.el,
        h('h2', null, 'Directors and VIPs'), services.el, noServices,
        h('h2', null, 'Running incidents'), incidents),
      h('div', null, h('h2', null, 'Resources'), resources.el, more,
        h('h2', null, 'Latest events'), events)));
    body.hidden = true;
    view.replaceChildren(h('h1', null, 'Dashboard'), body);
    return {
      async update() {
        const [status, latest, open] = await Promise.all([
          get('/v1/status'),
          get(`/v1/events?since=${eventsSince(10)}`),
          get('/v1/incidents').catch(() => ({ incidents: [] })),
        ]);
        names = nodeNames(status);
        const unreachable = status.view === 'local'
          ? status.master_unreachable || 'no master could be asked' : null;
        refill(local, JSON.stringify(unreachable), () => (unreachable === null ? null
          : note('warn', `This is the serving node's own copy: ${unreachable}.`)));
        cards.show(status);
        nodes.update(status.nodes, (node) => node.id);
        const wanted = status.resources.filter(isService);
        services.update(wanted, (r) => r.spec.name);
        services.el.hidden = wanted.length === 0;
        noServices.hidden = wanted.length !== 0;
        resources.update(status.resources.slice(0, RESOURCE_ROWS_MAX), (r) => r.spec.name);
        const rest = status.resources.length - RESOURCE_ROWS_MAX;
        setText(more, rest > 0 ? `${rest} more on the resources page.` : '');
        more.hidden = rest <= 0;
        refill(incidents, JSON.stringify(open.incidents), () => incidentList(open.incidents));
        const shown = latest.events.slice(-10);
        refill(events, JSON.stringify(shown), () => eventItems(shown));
        body.hidden = false;
      },
    };
  },
};
