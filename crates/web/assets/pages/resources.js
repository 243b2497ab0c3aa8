// The resources page: every resource with its state, where it runs and why it is there,
// a filter, and the runtime actions (start, stop, cleanup) for operators.

import { h, fill, table, badge, link, liveTable, refill, setText } from '../dom.js';
import { get, post, path } from '../api.js';
import { action, missing } from '../forms.js';

/** One word for a resource's state, from its instances. */
export function resourceState(resource) {
  const states = resource.instances.map((instance) => instance.state);
  if (states.includes('failed')) return 'failed';
  if (states.includes('running')) return 'running';
  if (!resource.managed) return 'unmanaged';
  return 'stopped';
}

/** Node names by id. */
export function nodeNames(status) {
  return new Map(status.nodes.map((node) => [node.id, node.name]));
}

/** Where a resource runs, as node names (and promoted roles). */
export function placement(resource, names) {
  const running = resource.instances.filter((instance) => instance.state === 'running');
  if (running.length === 0) return '—';
  return running.map((instance) => {
    const name = names.get(instance.node) || `node ${instance.node}`;
    return instance.role === 'promoted' ? `${name} (promoted)` : name;
  }).join(', ');
}

function matches(resource, needle, names) {
  if (!needle) return true;
  const text = [resource.spec.name, resource.spec.type, resource.group || '',
    resourceState(resource), placement(resource, names)].join(' ').toLowerCase();
  return needle.toLowerCase().split(/\s+/).every((word) => text.includes(word));
}

/** The runtime action buttons of one resource. */
export function runtimeActions(name, after) {
  const call = (verb) => async () => {
    await post(path('v1', 'resources', name, verb));
    await after();
    return `${verb}: ${name} done`;
  };
  return h('span', { class: 'actions' },
    action('Start', 'operate', call('start'), { 'aria-label': `Start ${name}` }),
    action('Stop', 'operate', call('stop'), { 'aria-label': `Stop ${name}` }),
    action('Cleanup', 'operate', call('cleanup'), { 'aria-label': `Cleanup ${name}` }));
}

/** The signature of what the failed-actions table shows. */
function failedSignature(status) {
  return JSON.stringify([status.failed_actions, status.nodes.map((n) => [n.id, n.name])]);
}

function failedActions(status, names) {
  if (!status.failed_actions.length) return null;
  return [h('h2', null, 'Failed actions'),
    table(['Resource', 'Node', 'Operation', 'Reason', 'Fail count'],
      status.failed_actions.map((f) => [f.resource, names.get(f.node) || String(f.node),
        f.operation || '', f.reason || '', String(f.fail_count)]))];
}

export default {
  title: 'Resources',
  async mount(view, ctx) {
    const filter = h('input', {
      id: 'resource-filter', type: 'search', placeholder: 'name, type, node or state',
      value: ctx.query.get('filter') || '',
    });
    let last = null;
    let names = new Map();
    // Each redraw updates only the rows and cells that changed (the stream makes one every
    // few hundred ms); the filter hides rows instead of rebuilding the table.
    const list = liveTable(['Name', 'Type', 'Group', 'State', 'Runs on', 'Target', 'Actions'], [
      { key: (r) => r.spec.name, build: (r) => link(r.spec.name, 'resources', r.spec.name) },
      { text: (r) => r.spec.type },
      { text: (r) => r.group || '' },
      { key: resourceState, build: (r) => badge(resourceState(r)) },
      { text: (r) => placement(r, names) },
      { text: (r) => r.spec.target_role || 'started' },
      { key: (r) => r.spec.name, build: (r) => runtimeActions(r.spec.name, update) },
    ], { id: 'resources', 'aria-label': 'Resources' });
    const count = h('p', { class: 'muted', id: 'resource-count' });
    const failed = h('div');
    const body = h('div', null, count, list.el, failed);
    body.hidden = true;
    const render = () => {
      if (!last) return;
      const needle = filter.value.trim();
      let shown = 0;
      list.update(last.resources, (r) => r.spec.name, (r) => {
        const match = matches(r, needle, names);
        if (match) shown += 1;
        return match;
      });
      setText(count, `${shown} of ${last.resources.length} resources`);
      refill(failed, failedSignature(last), () => failedActions(last, names));
      body.hidden = false;
    };
    const update = async () => {
      last = await get('/v1/status');
      names = nodeNames(last);
      render();
    };
    filter.addEventListener('input', render);
    fill(view,
      h('h1', null, 'Resources'),
      h('div', { class: 'toolbar' },
        h('label', { for: 'resource-filter' }, 'Filter'), filter,
        action('New resource', 'admin', () => { location.hash = '#/resources/new'; },
          { id: 'new-resource' })),
      missing('operate'),
      body);
    return { update };
  },
};

