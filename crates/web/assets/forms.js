// Buttons and forms shared by the pages: a button the user's role may not use is shown
// disabled, saying which permission it needs (the API refuses it anyway); a failed
// request's message is shown where the user looks, in the server's own words.

import { h, fill, note } from './dom.js';
import { can } from './api.js';

/** Show a short-lived message at the top of the page. */
export function toast(kind, text) {
  const area = document.getElementById('toasts');
  if (!area) return;
  const item = note(kind, text);
  area.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 12000 : 4000);
}

/**
 * A button that runs `run()` (async) and reports its failure; disabled, with the reason,
 * when the user lacks `permission`.
 */
export function action(label, permission, run, attrs) {
  const allowed = can(permission);
  const button = h('button', {
    type: 'button',
    ...attrs,
    disabled: !allowed,
    title: allowed ? (attrs && attrs.title) : `needs the ${permission} permission`,
    'data-needs': allowed ? undefined : permission,
  }, label);
  if (allowed) {
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const done = await run();
        if (typeof done === 'string') toast('ok', done);
      } catch (failure) {
        toast('error', `${label}: ${failure.message}`);
      } finally {
        button.disabled = false;
      }
    });
  }
  return button;
}

/** The explanation shown beside controls the user's role may not use. */
export function missing(permission) {
  if (can(permission)) return null;
  return h('p', { class: 'muted needs' },
    `Some actions here are disabled: your role lacks the ${permission} permission.`);
}

/** A labelled form field; `error` holds the message the server gave for it. */
export function field(label, control, help) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  const error = h('span', { class: 'field-error', id: `${id}-error`, role: 'alert' });
  control.setAttribute('aria-describedby', `${id}-error`);
  const row = h('div', { class: 'field' },
    h('label', { for: id }, label),
    control,
    help ? h('span', { class: 'help' }, help) : null,
    error);
  row.showError = (text) => {
    fill(error, text || '');
    control.setAttribute('aria-invalid', text ? 'true' : 'false');
  };
  return row;
}

/**
 * Spread a server refusal over the fields it names: parts of `a: b; c: d` whose first
 * word is a field's key show beside it; the rest goes to `general`. Returns how many
 * parts landed beside a field.
 */
export function showErrors(message, fields, general) {
  for (const row of Object.values(fields)) row.showError('');
  const rest = [];
  let placed = 0;
  for (const part of message.split('; ')) {
    const named = /^([A-Za-z0-9_.:-]+?): /.exec(part);
    const key = named && named[1];
    if (key && fields[key]) {
      const row = fields[key];
      row.showError(row.errorText ? `${row.errorText}; ${part}` : part);
      row.errorText = row.errorText ? `${row.errorText}; ${part}` : part;
      placed += 1;
    } else {
      rest.push(part);
    }
  }
  for (const row of Object.values(fields)) row.errorText = '';
  fill(general, rest.length ? note('error', rest.join('; ')) : '');
  return placed;
}

/** A `<select>` of `choices` (strings or `[value, label]`), `current` selected. */
export function select(choices, current, attrs) {
  return h('select', attrs, choices.map((choice) => {
    const [value, label] = Array.isArray(choice) ? choice : [choice, choice];
    return h('option', { value, selected: String(value) === String(current) }, label);
  }));
}

/** A form's submit button; disabled, with the reason, when the user lacks `permission`. */
export function submit(label, permission, attrs) {
  const allowed = can(permission);
  return h('button', {
    type: 'submit',
    ...attrs,
    disabled: !allowed,
    title: allowed ? undefined : `needs the ${permission} permission`,
    'data-needs': allowed ? undefined : permission,
  }, label);
}
