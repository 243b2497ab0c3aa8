// Resource types: built-in, OCF (from the serving node's agents) and user-defined, each
// with its parameters and actions.

import { h, fill, table, link } from '../dom.js';
import { get, path } from '../api.js';

// A parameter's `choices` is left out of the answer when it has none.
async function detail(body, name) {
  const type = await get(path('v1', 'types', name));
  fill(body, h('h2', null, type.name), h('p', null, type.description),
    table(['Parameter', 'Kind', 'Required', 'Default', 'Range', 'Description'],
      type.parameters.map((p) => [p.name, p.kind + (p.choices && p.choices.length
        ? ` (${p.choices.join(', ')})` : ''),
        p.required ? 'yes' : '', p.default ?? '', p.min !== null || p.max !== null
          ? `${p.min ?? ''}..${p.max ?? ''}` : '', p.description])),
    h('h3', null, 'Actions'),
    table(['Action', 'Timeout', 'Interval'], type.actions.map((a) => [a.name, a.timeout || '', a.interval || ''])));
}

export default {
  title: 'Resource types',
  async mount(view, ctx) {
    const list = h('div');
    const body = h('div', { id: 'type-detail' });
    fill(view, h('h1', null, 'Resource types'), h('div', { class: 'columns' }, list, body));
    const types = await get('/v1/types');
    fill(list, table(['Type', 'Class', 'Description'], types.types.map((t) => [
      link(t.name, 'types', t.name), t.class, t.description])),
    h('p', { class: 'muted' }, `OCF agents as installed on node ${types.node} (${types.ocf_root}).`));
    if (ctx.args[0]) await detail(body, ctx.args[0]);
    return {};
  },
};
