// Groups and constraints: create, move and delete groups; add and delete constraints; and
// a picture of the dependencies (group members in start order, order and colocation
// constraints as arrows, each resource placed where it runs).

import { h, s, fill, table, link, note } from '../dom.js';
import { get, post, del, path } from '../api.js';
import { action, field, select, showErrors, missing, submit } from '../forms.js';
import { nodeNames, placement } from './resources.js';

function describe(c) {
  if (c.type === 'order') return `start ${c.first} before ${c.then}${c.kind ? ` (${c.kind})` : ''}`;
  if (c.type === 'colocation') return `place ${c.resource} with ${c.with} (score ${c.score})`;
  return `${c.resource} on node ${c.node} (score ${c.score})`;
}

/** The dependency picture: one row per group, free resources after, arrows between. */
function picture(status, constraints, names) {
  const boxW = 150; const boxH = 40; const gapX = 40; const gapY = 30;
  const positions = new Map();
  const rows = status.groups.map((g) => g.members);
  const grouped = new Set(rows.flat());
  const loose = status.resources.map((r) => r.spec.name).filter((n) => !grouped.has(n));
  for (let i = 0; i < loose.length; i += 5) rows.push(loose.slice(i, i + 5));
  rows.forEach((row, y) => row.forEach((name, x) => positions.set(name,
    { x: 10 + x * (boxW + gapX), y: 10 + y * (boxH + gapY) })));
  const width = 20 + Math.max(1, ...rows.map((r) => r.length)) * (boxW + gapX);
  const height = 20 + Math.max(1, rows.length) * (boxH + gapY);
  const byName = new Map(status.resources.map((r) => [r.spec.name, r]));
  const shapes = [];
  const arrow = (from, to, cls) => {
    const a = positions.get(from); const b = positions.get(to);
    if (!a || !b) return;
    shapes.push(s('line', { x1: a.x + boxW / 2, y1: a.y + boxH / 2, x2: b.x + boxW / 2,
      y2: b.y + boxH / 2, class: cls, 'marker-end': 'url(#arrow)' }));
  };
  for (const g of status.groups) {
    for (let i = 1; i < g.members.length; i += 1) arrow(g.members[i - 1], g.members[i], 'edge group');
  }
  for (const c of constraints) {
    if (c.constraint.type === 'order') arrow(c.constraint.first, c.constraint.then, 'edge order');
    if (c.constraint.type === 'colocation') arrow(c.constraint.resource, c.constraint.with, 'edge colocation');
  }
  for (const [name, at] of positions) {
    const resource = byName.get(name);
    shapes.push(s('g', { class: 'box' },
      s('rect', { x: at.x, y: at.y, width: boxW, height: boxH, rx: 6 }),
      s('text', { x: at.x + 8, y: at.y + 16 }, name),
      s('text', { x: at.x + 8, y: at.y + 32, class: 'where' },
        resource ? placement(resource, names) : '')));
  }
  return s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
    'aria-label': 'Dependencies of groups and constraints', id: 'dependencies' },
  s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5,
    markerWidth: 6, markerHeight: 6, orient: 'auto' }, s('path', { d: 'M0,0 L10,5 L0,10 z' }))),
  shapes);
}

function groupForm(after) {
  const fields = {
    name: field('Group name', h('input', { id: 'group-name' })),
    members: field('Members in start order', h('input', { id: 'group-members' }), 'comma-separated resource names'),
  };
  const general = h('div');
  return h('form', { id: 'group-form', class: 'inline', onsubmit: async (event) => {
    event.preventDefault();
    const members = document.getElementById('group-members').value.split(',')
      .map((m) => m.trim()).filter(Boolean);
    try {
      await post('/v1/groups', { name: document.getElementById('group-name').value.trim(), members });
      fill(general);
      await after();
    } catch (failure) {
      showErrors(failure.message, fields, general);
    }
  } }, fields.name, fields.members, general, submit('Create group', 'admin'));
}

function constraintForm(after) {
  const kind = select(['order', 'colocation', 'location'], 'order', { id: 'c-type' });
  const a = h('input', { id: 'c-a', placeholder: 'first / resource' });
  const b = h('input', { id: 'c-b', placeholder: 'then / with / node id' });
  const score = h('input', { id: 'c-score', placeholder: 'INFINITY' });
  const general = h('div');
  return h('form', { id: 'constraint-form', class: 'inline', onsubmit: async (event) => {
    event.preventDefault();
    const body = kind.value === 'order' ? { type: 'order', first: a.value.trim(), then: b.value.trim() }
      : kind.value === 'colocation'
        ? { type: 'colocation', resource: a.value.trim(), with: b.value.trim(), score: score.value.trim() || 'INFINITY' }
        : { type: 'location', resource: a.value.trim(), node: Number(b.value), score: score.value.trim() || 'INFINITY' };
    try {
      await post('/v1/constraints', body);
      fill(general);
      await after();
    } catch (failure) {
      fill(general, note('error', failure.message));
    }
  } }, h('label', { for: 'c-type' }, 'Constraint'), kind, a, b, score, general,
  submit('Add constraint', 'admin'));
}

export default {
  title: 'Groups & constraints',
  async mount(view) {
    const body = h('div');
    const update = async () => {
      const [status, constraints] = await Promise.all([get('/v1/status'), get('/v1/constraints')]);
      const names = nodeNames(status);
      const nodeChoices = [['', 'away from where it runs'], ...status.nodes.map((n) => [String(n.id), n.name])];
      fill(body,
        h('h2', null, 'Groups'),
        table(['Group', 'Members (start order)', 'Runs on', 'Actions'], status.groups.map((g) => {
          const to = select(nodeChoices, '', { 'aria-label': `Move ${g.name} to` });
          const first = status.resources.find((r) => r.spec.name === g.members[0]);
          return [g.name, g.members.join(' → '), first ? placement(first, names) : '—',
            h('span', { class: 'actions' }, to,
              action('Move', 'operate', async () => {
                await post(path('v1', 'groups', g.name, 'move'), to.value ? { to: Number(to.value) } : {});
                await update();
                return `moving ${g.name}`;
              }, { 'aria-label': `Move group ${g.name}` }),
              action('Delete', 'admin', async () => {
                await del(path('v1', 'groups', g.name));
                await update();
                return `deleted group ${g.name}`;
              }, { 'aria-label': `Delete group ${g.name}` }))];
        }), { id: 'groups' }),
        h('h2', null, 'Constraints'),
        table(['Id', 'Origin', 'Constraint', 'Expires', 'Actions'], constraints.map((c) => [
          c.id, c.origin, describe(c.constraint),
          c.expires_at_ms ? new Date(c.expires_at_ms).toLocaleString() : '',
          action('Delete', 'admin', async () => {
            await del(path('v1', 'constraints', c.id));
            await update();
            return `deleted ${c.id}`;
          }, { 'aria-label': `Delete constraint ${c.id}` })]), { id: 'constraints' }),
        h('h2', null, 'Dependencies'),
        h('div', { class: 'picture' }, picture(status, constraints, names)),
        h('p', { class: 'muted' }, 'Solid arrows: group start order; dashed: order constraints; dotted: colocation. ',
          link('Resources', 'resources')));
    };
    fill(view, h('h1', null, 'Groups and constraints'), missing('admin'),
      h('div', { class: 'columns' }, groupForm(update), constraintForm(update)), body);
    return { update };
  },
};
