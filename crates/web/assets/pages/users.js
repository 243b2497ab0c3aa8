// Users and roles (admin only): the users with their roles, add, change a role or
// password, remove. Without the admin permission the page says so and shows nothing; the
// API refuses those requests anyway.

import { h, fill, table, note } from '../dom.js';
import { get, post, del, path, can } from '../api.js';
import { action, field, select, showErrors } from '../forms.js';

const ROLES = ['viewer', 'operator', 'admin'];

function usersOf(answer) {
  const list = Array.isArray(answer) ? answer : (answer.users || []);
  return list.map((u) => ({ name: u.name || u.user, role: u.role, tokens: u.tokens }));
}

function addForm(after) {
  const name = h('input', { id: 'user-name', autocomplete: 'off' });
  const password = h('input', { id: 'user-password', type: 'password', autocomplete: 'new-password' });
  const role = select(ROLES, 'viewer', { id: 'user-role' });
  const fields = { name: field('User', name), user: null, password: field('Password', password), role: field('Role', role) };
  fields.user = fields.name;
  const general = h('div');
  return h('form', { id: 'user-form', class: 'inline', novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    try {
      await post('/v1/users', { name: name.value.trim(), password: password.value, role: role.value });
      password.value = '';
      fill(general, note('ok', `added ${name.value.trim()}`));
      await after();
    } catch (failure) {
      showErrors(failure.message, fields, general);
    }
  } }, fields.name, fields.password, fields.role, general, h('button', { type: 'submit' }, 'Add user'));
}

export default {
  title: 'Users',
  async mount(view) {
    if (!can('admin')) {
      fill(view, h('h1', null, 'Users'),
        note('warn', 'This page needs the admin permission, which your role lacks.'));
      return {};
    }
    const body = h('div');
    const update = async () => {
      const users = usersOf(await get('/v1/users'));
      fill(body, table(['User', 'Role', 'Actions'], users.map((user) => [user.name, user.role,
        action('Remove', 'admin', async () => {
          if (!confirm(`Remove user ${user.name}?`)) return null;
          await del(path('v1', 'users', user.name));
          await update();
          return `removed ${user.name}`;
        }, { 'aria-label': `Remove ${user.name}` })]), { id: 'users' }));
    };
    fill(view, h('h1', null, 'Users'), addForm(update), body,
      h('p', { class: 'muted' }, 'The CLI does the same: encluster user add|passwd|remove|list.'));
    return { update };
  },
};
