// Graphs: any series of the metrics API, over a chosen time range, with several nodes
// overlaid; drag across a chart to zoom, double-click to zoom out (uPlot). Each node keeps
// its own series, so the page asks each node (`node=N`, forwarded by the serving node).

import { h, fill, note } from '../dom.js';
import { get } from '../api.js';
import { select } from '../forms.js';

const RANGES = [['300000', 'last 5 minutes'], ['900000', 'last 15 minutes'],
  ['3600000', 'last hour'], ['21600000', 'last 6 hours'], ['86400000', 'last 24 hours']];
const COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04'];

function seriesKey(series) {
  const labels = Object.entries(series.labels || {}).map(([k, v]) => `${k}=${v}`).join(',');
  return labels ? `${series.name}{${labels}}` : series.name;
}

function queryString(series, node, range) {
  const to = Date.now();
  const params = new URLSearchParams({ name: series.name, node: String(node),
    from: String(to - range), to: String(to) });
  for (const [k, v] of Object.entries(series.labels || {})) params.append('label', `${k}=${v}`);
  return `/v1/metrics/query?${params}`;
}

/** Align several nodes' ranges on one time axis (seconds, as uPlot wants). */
function align(ranges) {
  const times = new Set();
  const maps = ranges.map((range) => {
    const map = new Map();
    range.points.forEach((point, i) => {
      const t = Math.round((range.start_ms + i * range.step_ms) / 1000);
      times.add(t);
      if (point) map.set(t, point.avg);
    });
    return map;
  });
  const xs = [...times].sort((a, b) => a - b);
  return [xs, ...maps.map((map) => xs.map((t) => (map.has(t) ? map.get(t) : null)))];
}

function chart(container, title, names, data) {
  const width = Math.max(400, container.clientWidth || 800);
  const options = {
    title, width, height: 300,
    series: [{}, ...names.map((name, i) => ({ label: name, stroke: COLOURS[i % COLOURS.length],
      width: 1.5, spanGaps: false }))],
    axes: [{}, { size: 70 }],
    cursor: { drag: { x: true, y: false } },
  };
  return new window.uPlot(options, data, container);
}

export default {
  title: 'Graphs',
  async mount(view, ctx) {
    const status = await get('/v1/status');
    const wanted = ctx.query.get('node');
    const first = wanted ? Number(wanted) : (status.master || status.answered_by);
    const list = await get(`/v1/metrics?node=${first}`);
    const seriesChoices = list.series.map((series, i) => [String(i), seriesKey(series)]);
    const preferred = list.series.findIndex((s) => s.name.startsWith('node_cpu'));
    const seriesSelect = select(seriesChoices, String(Math.max(0, preferred)), { id: 'graph-series' });
    const rangeSelect = select(RANGES, '900000', { id: 'graph-range' });
    const nodeBoxes = status.nodes.map((node) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', value: String(node.id), checked: node.id === first,
        'aria-label': `Show ${node.name}` }), ` ${node.name}`));
    const plot = h('div', { id: 'graph', class: 'graph' });
    const message = h('div');
    let current = null;
    const draw = async () => {
      const series = list.series[Number(seriesSelect.value)];
      if (!series) return;
      const range = Number(rangeSelect.value);
      const picked = nodeBoxes.map((label) => label.querySelector('input'))
        .filter((box) => box.checked).map((box) => Number(box.value));
      const answers = await Promise.all(picked.map((node) =>
        get(queryString(series, node, range)).catch((failure) => ({ failure, node }))));
      const ok = answers.filter((a) => !a.failure);
      fill(message, answers.filter((a) => a.failure).map((a) =>
        note('warn', `node ${a.node}: ${a.failure.message}`)));
      const names = ok.map((a) => status.nodes.find((n) => n.id === a.node)?.name || `node ${a.node}`);
      if (current) current.destroy();
      current = null;
      fill(plot);
      if (ok.length === 0) return;
      const data = align(ok);
      plot.dataset.points = String(data[0].length);
      current = chart(plot, seriesKey(series), names, data);
    };
    for (const control of [seriesSelect, rangeSelect, ...nodeBoxes]) {
      control.addEventListener('change', () => draw().catch((e) => fill(message, note('error', e.message))));
    }
    fill(view, h('h1', null, 'Graphs'),
      h('div', { class: 'toolbar' }, h('label', { for: 'graph-series' }, 'Series'), seriesSelect,
        h('label', { for: 'graph-range' }, 'Range'), rangeSelect, h('span', null, 'Nodes:'), nodeBoxes),
      message, plot,
      h('p', { class: 'muted' }, 'Drag across the chart to zoom in; double-click to zoom out.'));
    await draw();
    // Redraw at most every 5 s on changes: a chart is a range, not a single value.
    let drawnAt = Date.now();
    return {
      async update() {
        if (Date.now() - drawnAt < 5000) return;
        drawnAt = Date.now();
        await draw();
      },
    };
  },
};
