// One resource: its detail (state per node, why it runs where it does, its operation log,
// move with an expiry, start, stop, cleanup), and the create and edit forms generated from
// its type's schema. The server validates every form; each problem it names shows beside
// its field (`MaxUser: 11 is above the maximum 10`) and nothing is changed.

import { h, fill, table, badge, when, note, link } from '../dom.js';
import { get, post, put, del, path } from '../api.js';
import { action, field, showErrors, select, missing, toast, submit } from '../forms.js';
import { runtimeActions, nodeNames, resourceState } from './resources.js';

const OPTIONS = [
  ['monitor_interval', 'Monitor interval', 'e.g. 10s'],
  ['monitor_timeout', 'Monitor timeout', 'e.g. 20s'],
  ['start_timeout', 'Start timeout', 'e.g. 20s'],
  ['stop_timeout', 'Stop timeout', 'e.g. 20s'],
  ['failure_timeout', 'Failure timeout', 'fail counts expire after, e.g. 10m'],
  ['drain', 'Drain', 'keep running while load balancers drain it, e.g. 5s'],
];

function paramControl(param, value) {
  const id = `param-${param.name}`;
  if (param.kind === 'enum' && param.choices.length) {
    return select([['', '(default)'], ...param.choices], value || '', { id, name: param.name });
  }
  if (param.kind === 'boolean') {
    return select([['', '(default)'], 'true', 'false'], value || '', { id, name: param.name });
  }
  return h('input', {
    id, name: param.name, value: value || '',
    inputmode: param.kind === 'integer' || param.kind === 'port' ? 'numeric' : undefined,
    placeholder: param.default !== null && param.default !== undefined ? `default ${param.default}` : '',
  });
}

function paramHelp(param) {
  const range = param.min !== null && param.min !== undefined || param.max !== null && param.max !== undefined
    ? ` ${param.min ?? ''}..${param.max ?? ''}` : '';
  return `${param.kind}${range}${param.required ? ', required' : ''}` +
    `${param.description ? ' — ' + param.description : ''}`;
}

async function typeFields(typeName, params, fields, container) {
  fill(container);
  for (const key of Object.keys(fields)) delete fields[key];
  if (!typeName) return;
  const detail = await get(path('v1', 'types', typeName));
  for (const param of detail.parameters) {
    const row = field(param.name + (param.required ? ' *' : ''),
      paramControl(param, params[param.name]), paramHelp(param));
    fields[param.name] = row;
    container.append(row);
  }
}

function readSpec(form, original) {
  const data = new FormData(form);
  const spec = { name: data.get('name').trim(), type: data.get('type'), params: {} };
  for (const control of form.querySelectorAll('input[id^="param-"], select[id^="param-"]')) {
    const value = control.value.trim();
    if (value !== '') spec.params[control.name] = value;
  }
  for (const [key] of OPTIONS) {
    const value = (data.get(key) || '').trim();
    if (value !== '') spec[key] = value;
  }
  const kind = data.get('kind');
  if (kind === 'clone') spec.clone = true;
  if (kind === 'unique') spec.unique = true;
  const role = data.get('target_role');
  if (role) spec.target_role = role;
  if (original && original.utilization) spec.utilization = original.utilization;
  return spec;
}

async function editor(view, original) {
  const creating = !original;
  const types = await get('/v1/types');
  const fields = {};
  const general = h('div', { id: 'form-errors' });
  const params = h('fieldset', { id: 'params' });
  const name = h('input', { id: 'res-name', name: 'name', value: original ? original.name : '',
    readonly: !creating, required: true });
  const type = select([['', 'choose a type'], ...types.types.map((t) => [t.name, `${t.name} (${t.class})`])],
    original ? original.type : '', { id: 'res-type', name: 'type', disabled: !creating });
  fields.name = field('Name', name);
  fields.type = field('Type', type);
  const kind = select([['', 'type default'], 'unique', 'clone'],
    original ? (original.clone ? 'clone' : 'unique') : '', { id: 'res-kind', name: 'kind' });
  fields.unique = field('Instances', kind);
  fields.clone = fields.unique;
  const role = select([['', 'started'], 'started', 'stopped'], original ? original.target_role : '',
    { id: 'res-role', name: 'target_role' });
  fields.target_role = field('Target role', role);
  const optionRows = OPTIONS.map(([key, label, help]) => {
    fields[key] = field(label, h('input', { id: `opt-${key}`, name: key,
      value: original && original[key] ? original[key] : '' }), help);
    return fields[key];
  });
  const form = h('form', { id: 'resource-form', novalidate: true },
    fields.name, fields.type, h('h2', null, 'Parameters'), params,
    h('details', null, h('summary', null, 'Options'), fields.unique, fields.target_role, optionRows),
    general,
    submit(creating ? 'Create' : 'Save', 'admin', { id: 'save' }),
    ' ', link('Cancel', 'resources', ...(original ? [original.name] : [])));
  const paramRows = {};
  const loadType = async () => {
    await typeFields(type.value, original ? original.params : {}, paramRows, params);
  };
  type.addEventListener('change', () => loadType().catch((e) => fill(general, note('error', e.message))));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const spec = readSpec(form, original);
    if (!creating) spec.type = original.type;
    try {
      if (creating) await post('/v1/resources', spec);
      else await put(path('v1', 'resources', original.name), spec);
      toast('ok', `${creating ? 'Created' : 'Saved'} ${spec.name}`);
      location.hash = `#/resources/${encodeURIComponent(spec.name)}`;
    } catch (failure) {
      showErrors(failure.message, { ...fields, ...paramRows }, general);
    }
  });
  fill(view, h('h1', null, creating ? 'New resource' : `Edit ${original.name}`),
    missing('admin'), form);
  if (!creating) await loadType();
}

function moveForm(resource, status, after) {
  const target = select([['', 'away from where it runs'],
    ...status.nodes.map((n) => [String(n.id), n.name])], '', { id: 'move-to' });
  const duration = h('input', { id: 'move-for', placeholder: 'e.g. 10m; empty: until cleared' });
  return h('div', { class: 'toolbar' },
    h('label', { for: 'move-to' }, 'Move to'), target,
    h('label', { for: 'move-for' }, 'for'), duration,
    action('Move', 'operate', async () => {
      const body = {};
      if (target.value) body.to = Number(target.value);
      if (duration.value.trim()) body.for_duration = duration.value.trim();
      await post(path('v1', 'resources', resource.spec.name, 'move'), body);
      await after();
      return `moving ${resource.spec.name}`;
    }, { id: 'move' }),
    action('Clear moves and bans', 'operate', async () => {
      await post(path('v1', 'resources', resource.spec.name, 'clear'), {});
      await after();
      return 'cleared';
    }));
}

async function detail(view, name) {
  const body = h('div');
  fill(view, h('h1', null, `Resource ${name}`), missing('operate'), body);
  const update = async () => {
    const [resource, status, explanation, operations] = await Promise.all([
      get(path('v1', 'resources', name)),
      get('/v1/status'),
      get(path('v1', 'resources', name, 'explain')).catch((e) => ({ reasons: [e.message] })),
      get(`/v1/operations?resource=${encodeURIComponent(name)}`).catch(() => ({ operations: [] })),
    ]);
    const names = nodeNames(status);
    fill(body,
      h('p', null, 'State: ', badge(resourceState(resource)), ` · type ${resource.spec.type}`,
        resource.group ? ` · group ${resource.group}` : ''),
      h('div', { class: 'toolbar' }, runtimeActions(name, update),
        action('Edit', 'admin', () => { location.hash = `#/resources/${encodeURIComponent(name)}/edit`; }),
        action('Delete', 'admin', async () => {
          if (!confirm(`Delete resource ${name}?`)) return null;
          await del(path('v1', 'resources', name));
          location.hash = '#/resources';
          return `deleted ${name}`;
        })),
      moveForm(resource, status, update),
      h('h2', null, 'Instances'),
      table(['Node', 'State', 'Role', 'Fail count', 'Last failure', 'Lease token'],
        resource.instances.map((i) => [names.get(i.node) || String(i.node), badge(i.state),
          i.role || '', String(i.fail_count), i.last_failure || '',
          i.assigned_token === null ? '' : String(i.assigned_token)]), { id: 'instances' }),
      h('h2', null, 'Why it runs where it does'),
      h('ul', { id: 'explain' }, explanation.reasons.map((reason) => h('li', null, reason))),
      h('h2', null, 'Parameters'),
      table(['Name', 'Value'], Object.entries(resource.spec.params)),
      h('h2', null, 'Operation log'),
      table(['Started', 'Node', 'Operation', 'Result', 'Reason'],
        operations.operations.slice(-50).reverse().map((op) => [when(op.started_at_ms),
          op.node_name, op.operation, badge(op.ok ? 'running' : 'failed', op.ok ? 'ok' : 'failed'),
          op.reason || ''])));
  };
  return { update };
}

export default {
  title: 'Resource',
  async mount(view, ctx) {
    const [name, mode] = ctx.args;
    if (name === 'new') {
      await editor(view, null);
      return {};
    }
    if (mode === 'edit') {
      const resource = await get(path('v1', 'resources', name));
      await editor(view, resource.spec);
      return {};
    }
    return detail(view, name);
  },
};
