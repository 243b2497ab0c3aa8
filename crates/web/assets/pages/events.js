// Events, incidents and alerts, live: the event log with filters, each incident's phases
// on a timeline (detected, node down, fence confirmed, lease ended, stopped, started
// elsewhere, healthy), and the alert recipients with a "send test" button.

import { h, s, fill, table, badge, when, note } from '../dom.js';
import { get, post, path } from '../api.js';
import { action, select } from '../forms.js';
import { eventsSince } from '../live.js';

const PHASES = [['detected_at_ms', 'detected'], ['down_at_ms', 'node down'],
  ['fence_confirmed_at_ms', 'fence confirmed'], ['lease_ended_at_ms', 'lease ended'],
  ['stopped_at_ms', 'stopped'], ['started_at_ms', 'started'], ['healthy_at_ms', 'healthy']];

function timeline(incident) {
  const phases = PHASES.filter(([key]) => incident[key]).map(([key, label]) => [incident[key], label])
    .sort((a, b) => a[0] - b[0]);
  const start = phases[0][0];
  const span = Math.max(1, phases[phases.length - 1][0] - start);
  const width = 560;
  return s('svg', { class: 'timeline', viewBox: `0 0 ${width + 40} 50`, width: width + 40, height: 50,
    role: 'img', 'aria-label': `Phases of incident ${incident.id}` },
  s('line', { x1: 10, y1: 20, x2: width + 10, y2: 20, class: 'axis' }),
  phases.map(([at, label], i) => {
    const x = 10 + ((at - start) / span) * width;
    return s('g', null, s('circle', { cx: x, cy: 20, r: 5 }),
      s('text', { x, y: i % 2 ? 45 : 10, 'text-anchor': 'middle' },
        `${label} +${((at - start) / 1000).toFixed(1)}s`));
  }));
}

function incidentBlock(incident) {
  return h('li', { class: 'incident', 'data-incident': String(incident.id) },
    h('p', null, badge(incident.closed ? 'stopped' : 'critical', incident.closed ? 'closed' : 'open'),
      ` #${incident.id} ${incident.cause} on ${incident.node_name}`,
      incident.resource ? ` (${incident.resource})` : '', ` · ${when(incident.detected_at_ms)}`),
    timeline(incident),
    incident.resources.length ? table(['Resource', 'Stopped', 'Started on', 'Started', 'Healthy'],
      incident.resources.map((r) => [r.resource, when(r.stopped_at_ms), r.started_on ?? '—',
        when(r.started_at_ms), r.given_up ? 'gave up' : when(r.healthy_at_ms)])) : null);
}

// `GET /v1/alerts` gives each alert's spec fields (name, webhook, executable, rule, kinds)
// at the top level of the alert, beside `pending`.
function alertTable(alerts) {
  if (alerts.length === 0) return h('p', { class: 'muted' }, 'No alert recipients.');
  return table(['Name', 'Sends to', 'Rule', 'Pending', 'Actions'], alerts.map((alert) => [
    alert.name, alert.webhook || alert.executable || '',
    alert.rule || (alert.kinds || []).join(', ') || 'every event', String(alert.pending),
    alert.rule ? '' : action('Send test', 'operate', async () => {
      const result = await post(path('v1', 'alerts', alert.name, 'test'));
      if (!result.delivered) throw new Error(result.error || 'not delivered');
      return `test alert delivered to ${alert.name} in ${result.elapsed_ms} ms`;
    }, { 'aria-label': `Send test to ${alert.name}` })]), { id: 'alerts' });
}

export default {
  title: 'Events & alerts',
  async mount(view) {
    const severity = select([['', 'any severity'], 'info', 'warning', 'critical'], '', { id: 'event-severity' });
    const text = h('input', { id: 'event-filter', type: 'search', placeholder: 'kind, node, resource' });
    const eventsBody = h('div');
    const incidentsBody = h('div');
    const alertsBody = h('div');
    let events = [];
    const render = () => {
      const needle = text.value.trim().toLowerCase();
      const shown = events.filter((e) => (!severity.value || e.severity === severity.value)
        && (!needle || `${e.kind} ${e.message} ${e.actor || ''}`.toLowerCase().includes(needle)));
      fill(eventsBody, table(['When', 'Severity', 'Kind', 'What', 'By'],
        shown.slice().reverse().map((e) => [when(e.at_ms), badge(e.severity || 'info'), e.kind,
          e.message, e.actor || '']), { id: 'events', 'aria-label': 'Events' }));
    };
    severity.addEventListener('change', render);
    text.addEventListener('input', render);
    fill(view, h('h1', null, 'Events, incidents and alerts'),
      h('h2', null, 'Incidents'), incidentsBody,
      h('h2', null, 'Events'),
      h('div', { class: 'toolbar' }, h('label', { for: 'event-severity' }, 'Severity'), severity,
        h('label', { for: 'event-filter' }, 'Filter'), text), eventsBody,
      h('h2', null, 'Alert recipients'), alertsBody);
    const update = async () => {
      const [page, incidents, alerts] = await Promise.all([
        get(`/v1/events?since=${eventsSince(200)}`),
        get('/v1/incidents').catch((e) => ({ failure: e })),
        get('/v1/alerts').catch((e) => ({ failure: e })),
      ]);
      events = page.events.slice(-200);
      render();
      fill(incidentsBody, incidents.failure ? note('warn', incidents.failure.message)
        : incidents.incidents.length ? h('ul', { id: 'incidents' },
          incidents.incidents.slice().reverse().map(incidentBlock))
          : h('p', { class: 'muted', id: 'incidents' }, 'No incidents.'));
      fill(alertsBody, alerts.failure ? note('warn', alerts.failure.message) : alertTable(alerts.alerts));
    };
    return { update };
  },
};

