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
