// Building the page from data. Every text goes in through textContent or a text node, and
// attributes through setAttribute: no data ever reaches the HTML parser, so a name like
// `<img onerror=...>` shows as text and runs nothing (the Content-Security-Policy would
// block it too).

const SVG = 'http://www.w3.org/2000/svg';

function set(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.setAttribute('class', value);
    } else if (key === 'value') {
      el.value = value;
    } else if (key === 'checked' || key === 'disabled' || key === 'selected') {
      el[key] = true;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

function add(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: `h('td', {class: 'x'}, 'text', otherElement)`. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  set(el, attrs);
  add(el, children);
  return el;
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  set(el, attrs);
  add(el, children);
  return el;
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

/** A link inside the UI: `#/path` with each part URL-encoded. */
export function link(text, ...parts) {
  return h('a', { href: '#/' + parts.map(encodeURIComponent).join('/') }, text);
}

/** A table with a header row; `rows` are arrays of cells (text or elements). */
export function table(headers, rows, attrs) {
  return h('table', attrs,
    h('thead', null, h('tr', null, headers.map((title) => h('th', { scope: 'col' }, title)))),
    h('tbody', null, rows.map((row) => row instanceof Node ? row
      : h('tr', null, row.map((cell) => h('td', null, cell))))));
}

const shownAs = new WeakMap();

/**
 * Replace an element's children with `build()`'s, but only when `signature` (a string
 * naming what they show) differs from the one they were built for: a page refreshed a few
 * times a second then touches only what changed, and the browser has nothing to restyle.
 */
export function refill(el, signature, build) {
  if (shownAs.get(el) === signature) return el;
  shownAs.set(el, signature);
  return fill(el, build());
}

/** Set an element's text, unless it already says that. */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
  return el;
}

/**
 * A table kept in step with a list, row by row, for pages redrawn on every change of the
 * cluster: rebuilding a table of 1,000 rows costs the browser hundreds of milliseconds of
 * style and layout and loses the focus, a redraw like this costs what changed. Each row is
 * laid out on its own (style.css, `table.live`: a table's own layout would place all
 * 1,000 rows again for one changed cell), with the columns the table's `--columns` gives.
 * `columns` describe the cells: `{ text: (item) => string }` for a plain cell, or
 * `{ key: (item) => string, build: (item) => content }` for one built from elements, built
 * again only when its `key` changes (a cell of buttons keyed by the item's name is never
 * rebuilt, so a focused button stays focused). `update(items, id, shown)` makes one row per
 * `id(item)`, in the list's order: it builds new rows, updates only the cells that changed,
 * moves only rows out of place, removes the rest, and hides the rows `shown` rejects.
 */
export function liveTable(headers, columns, attrs) {
  // The rows are grids of their own (style.css, `table.live`), which drops the table's
  // implicit roles in some browsers: the roles say it again.
  const body = h('tbody', { role: 'rowgroup' });
  const el = h('table', { class: 'live', role: 'table', ...attrs },
    h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' },
      headers.map((title) => h('th', { scope: 'col', role: 'columnheader' }, title)))),
    body);
  const rows = new Map();
  const cell = (td, column, item, old) => {
    const now = column.text ? column.text(item) : column.key(item);
    if (now === old) return old;
    if (column.text) td.textContent = now;
    else fill(td, column.build(item));
    return now;
  };
  const update = (items, id, shown) => {
    const wanted = new Map(items.map((item) => [id(item), item]));
    for (const [key, row] of rows) {
      if (!wanted.has(key)) {
        row.tr.remove();
        rows.delete(key);
      }
    }
    let at = body.firstElementChild;
    for (const [key, item] of wanted) {
      let row = rows.get(key);
      if (!row) {
        row = { tr: h('tr', { role: 'row' }, columns.map(() => h('td', { role: 'cell' }))),
          shown: [] };
        rows.set(key, row);
      }
      const tds = row.tr.children;
      columns.forEach((column, i) => {
        row.shown[i] = cell(tds[i], column, item, row.shown[i]);
      });
      const hidden = shown ? !shown(item) : false;
      if (row.tr.hidden !== hidden) row.tr.hidden = hidden;
      if (row.tr === at) at = at.nextElementSibling;
      else body.insertBefore(row.tr, at);
    }
  };
  return { el, update, row: (key) => rows.get(key)?.tr };
}

/** A small coloured word for a state such as `running` or `down`. */
export function badge(word, extra) {
  const tone = {
    running: 'ok', online: 'ok', promoted: 'ok', active: 'ok', has: 'ok', healthy: 'ok',
    info: 'info', stopped: 'idle', standby: 'idle', maintenance: 'warn', learner: 'idle',
    suspect: 'warn', draining: 'warn', warning: 'warn', unknown: 'warn', disabled: 'idle',
    failed: 'bad', down: 'bad', lost: 'bad', critical: 'bad', unhealthy: 'bad',
  }[word] || 'idle';
  return h('span', { class: `badge ${tone}` }, extra || word);
}

/** Milliseconds since the epoch as local date and time. */
export function when(ms) {
  if (ms === null || ms === undefined) return '—';
  return new Date(ms).toLocaleString();
}

/** A duration in words: `350 ms`, `12 s`, `4 min`. */
export function age(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7200000) return `${Math.round(ms / 60000)} min`;
  return `${Math.round(ms / 3600000)} h`;
}

/** A message box: `note('error', text)`. */
export function note(kind, ...children) {
  return h('div', { class: `note ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    ...children);
}
