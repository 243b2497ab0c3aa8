// The nodes page: each node's state, role, heartbeat age and mode, the runtime actions
// (standby, online, maintenance, ready) and removal, and a link to its graphs.

import { h, fill, table, badge, age } from '../dom.js';
import { get, post, del, path } from '../api.js';
import { action, missing } from '../forms.js';

function modeButton(node, mode, label, after) {
  return action(label, 'operate', async () => {
    await post(path('v1', 'nodes', String(node.id), 'mode'), { mode });
    await after();
    return `${node.name}: ${mode}`;
  }, { 'aria-label': `${label} ${node.name}` });
}

export default {
  title: 'Nodes',
  async mount(view) {
    const body = h('div');
    fill(view, h('h1', null, 'Nodes'), missing('operate'), body);
    const update = async () => {
      const status = await get('/v1/status');
      const running = new Map();
      for (const resource of status.resources) {
        for (const instance of resource.instances) {
          if (instance.state !== 'running') continue;
          running.set(instance.node, (running.get(instance.node) || 0) + 1);
        }
      }
      fill(body, table(['Node', 'State', 'Role', 'Heartbeat age', 'Mode', 'Resources',
        'API address', 'Actions'], status.nodes.map((node) => [
        h('span', null, node.name, node.is_master ? h('span', { class: 'badge info' }, 'master') : null),
        [badge(node.state), node.recorded_state ? ` (last recorded ${node.recorded_state})` : ''],
        node.role,
        age(node.last_heartbeat_ms),
        [node.standby ? badge('standby') : null, node.maintenance ? badge('maintenance') : null,
          !node.standby && !node.maintenance ? 'active' : null],
        String(running.get(node.id) || 0),
        node.api_addr,
        h('span', { class: 'actions' },
          node.standby ? modeButton(node, 'online', 'Online', update)
            : modeButton(node, 'standby', 'Standby', update),
          node.maintenance ? modeButton(node, 'ready', 'End maintenance', update)
            : modeButton(node, 'maintenance', 'Maintenance', update),
          action('Remove', 'admin', async () => {
            if (!confirm(`Remove node ${node.name} from the cluster?`)) return null;
            await del(path('v1', 'nodes', String(node.id)));
            await update();
            return `removed ${node.name}`;
          }, { 'aria-label': `Remove ${node.name}` }),
          h('a', { href: `#/graphs?node=${node.id}` }, 'Graphs')),
      ]), { id: 'nodes', 'aria-label': 'Nodes' }));
    };
    return { update };
  },
};
