// Groups and constraints: create, edit, move and delete groups; add, edit and delete
// constraints; and a picture of the dependencies (group members in start order, order and
// colocation constraints as arrows, each resource placed where it runs). An edit changes a
// group or a constraint in place (`PUT`), so the members that stay in a group keep
// running; the server checks it as it checks a create, and each problem it names shows
// beside its field.

import { h, s, fill, table, link, note } from '../dom.js';
import { get, post, put, del, path } from '../api.js';
import { action, field, select, showErrors, missing, submit, toast } from '../forms.js';
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
  // An arrow runs between the borders of its two boxes, not their centres: the boxes are
  // drawn over the lines, so a head at a centre would be hidden and the order lost.
  const arrow = (from, to, cls) => {
    const a = positions.get(from); const b = positions.get(to);
    if (!a || !b || a === b) return;
    const dx = b.x - a.x; const dy = b.y - a.y;
    const out = Math.min(dx ? boxW / 2 / Math.abs(dx) : Infinity,
      dy ? boxH / 2 / Math.abs(dy) : Infinity);
    shapes.push(s('line', { x1: a.x + boxW / 2 + dx * out, y1: a.y + boxH / 2 + dy * out,
      x2: b.x + boxW / 2 - dx * out, y2: b.y + boxH / 2 - dy * out, class: cls,
      'marker-end': 'url(#arrow)' }));
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

/** The edit form of group `g`, pre-filled; `close(changed)` ends the edit. */
function groupEditor(g, close) {
  const members = h('input', { id: 'edit-group-members', value: g.members.join(', ') });
  const fields = {
    members: field('Members in start order', members,
      'comma-separated; the members that stay keep running'),
  };
  const general = h('div', { id: 'edit-group-errors' });
  return h('form', { id: 'group-edit-form', class: 'inline', 'aria-label': `Edit group ${g.name}`,
    onsubmit: async (event) => {
      event.preventDefault();
      const list = members.value.split(',').map((m) => m.trim()).filter(Boolean);
      try {
        const stored = await put(path('v1', 'groups', g.name), { name: g.name, members: list });
        toast('ok', `updated group ${g.name}: ${stored.members.join(' → ')}`);
        await close(true);
      } catch (failure) {
        showErrors(failure.message, fields, general);
      }
    } },
  h('h2', null, `Edit group ${g.name}`), fields.members, general,
  submit('Save group', 'admin', { id: 'save-group' }),
  h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'));
}

/** The two names and the score of a constraint spec, as the forms show them. */
function constraintParts(c) {
  if (c.type === 'order') return [c.first, c.then, ''];
  if (c.type === 'colocation') return [c.resource, c.with, c.score];
  return [c.resource, String(c.node), c.score];
}

/** The spec the constraint forms describe. */
function constraintBody(type, a, b, score, optional) {
  if (type === 'order') {
    return { type, first: a, then: b, ...(optional ? { kind: 'optional' } : {}) };
  }
  if (type === 'colocation') return { type, resource: a, with: b, score: score || 'INFINITY' };
  return { type, resource: a, node: Number(b), score: score || 'INFINITY' };
}

/** The edit form of the declared constraint `view`, pre-filled. */
function constraintEditor(view, close) {
  const c = view.constraint;
  const [first, second, current] = constraintParts(c);
  const kind = select(['order', 'colocation', 'location'], c.type, { id: 'edit-c-type' });
  const a = h('input', { id: 'edit-c-a', value: first });
  const b = h('input', { id: 'edit-c-b', value: second });
  const score = h('input', { id: 'edit-c-score', value: current, placeholder: 'INFINITY' });
  const optional = h('input', { id: 'edit-c-optional', type: 'checkbox',
    checked: c.type === 'order' && c.kind === 'optional' });
  const rows = {
    a: field('First (order) or resource', a),
    b: field('Then, with, or node id', b),
    score: field('Score (colocation, location)', score),
    kind: field('Optional order', optional),
  };
  // A refusal names the spec's field; both names of a row lead to it.
  const fields = { first: rows.a, resource: rows.a, then: rows.b, with: rows.b, node: rows.b,
    score: rows.score, kind: rows.kind, type: rows.a };
  const general = h('div', { id: 'edit-constraint-errors' });
  return h('form', { id: 'constraint-edit-form', class: 'inline',
    'aria-label': `Edit constraint ${view.id}`, onsubmit: async (event) => {
      event.preventDefault();
      const body = constraintBody(kind.value, a.value.trim(), b.value.trim(), score.value.trim(),
        optional.checked);
      try {
        const stored = await put(path('v1', 'constraints', view.id), body);
        toast('ok', `updated ${view.id}: ${describe(stored.constraint)} (id ${stored.id})`);
        await close(true);
      } catch (failure) {
        showErrors(failure.message, fields, general);
      }
    } },
  h('h2', null, `Edit constraint ${view.id}`),
  h('label', { for: 'edit-c-type' }, 'Constraint'), kind, rows.a, rows.b, rows.score, rows.kind,
  general, submit('Save constraint', 'admin', { id: 'save-constraint' }),
  h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'));
}

/** Edit for a declared constraint; moves and bans change by moving and banning again. */
function editConstraint(c, open) {
  if (c.origin !== 'constraint') {
    return h('button', { type: 'button', disabled: true, 'aria-label': `Edit constraint ${c.id}`,
      title: `a ${c.origin}: ${c.origin} again to change it, or delete it` }, 'Edit');
  }
  return action('Edit', 'admin', async () => open(c), { 'aria-label': `Edit constraint ${c.id}` });
}

export default {
  title: 'Groups & constraints',
  async mount(view) {
    const body = h('div');
    const editor = h('div', { id: 'editor' });
    const edit = (form) => {
      fill(editor, form);
      editor.scrollIntoView({ block: 'nearest' });
      const first = form.querySelector('input, select');
      if (first) first.focus();
    };
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
              action('Edit', 'admin', async () => edit(groupEditor(g, close)),
                { 'aria-label': `Edit group ${g.name}` }),
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
          h('span', { class: 'actions' },
            editConstraint(c, (chosen) => edit(constraintEditor(chosen, close))),
            action('Delete', 'admin', async () => {
              await del(path('v1', 'constraints', c.id));
              await update();
              return `deleted ${c.id}`;
            }, { 'aria-label': `Delete constraint ${c.id}` }))]), { id: 'constraints' }),
        h('h2', null, 'Dependencies'),
        h('div', { class: 'picture' }, picture(status, constraints, names)),
        h('p', { class: 'muted' }, 'Solid arrows: group start order; dashed: order constraints; dotted: colocation. ',
          link('Resources', 'resources')));
    };
    // An edit ends with the form gone and, when it changed something, the page read again.
    const close = async (changed) => {
      fill(editor);
      if (changed) await update();
    };
    fill(view, h('h1', null, 'Groups and constraints'), missing('admin'),
      h('div', { class: 'columns' }, groupForm(update), constraintForm(update)), editor, body);
    return { update };
  },
};
