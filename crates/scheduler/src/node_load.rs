//! How many resources each node runs or holds a reservation for, with the open nodes kept
//! ordered by load, so a unit with no preferences finds the least loaded node without
//! weighing every node.

use std::collections::BTreeSet;

use model::NodeHealth;

use crate::index::{Index, NodeIdx};

pub(crate) struct NodeLoad {
    /// Per node, resources placed in this pass.
    placed: Vec<u32>,
    /// Per node, resources not placed yet that hold a reservation there.
    reserved: Vec<u32>,
    /// Whether a node can take new resources: configured, online, not standby or maintenance.
    open: Vec<bool>,
    /// The open nodes by (load, node id order).
    by_load: BTreeSet<(u32, NodeIdx)>,
}

impl NodeLoad {
    pub(crate) fn new(index: &Index<'_>) -> NodeLoad {
        let open: Vec<bool> = index
            .nodes
            .iter()
            .map(|node| {
                node.configured
                    && node.health == NodeHealth::Online
                    && !node.standby
                    && !node.maintenance
            })
            .collect();
        let by_load = (0..open.len())
            .filter(|&node| open[node])
            .map(|node| (0, node))
            .collect();
        NodeLoad {
            placed: vec![0; open.len()],
            reserved: vec![0; open.len()],
            open,
            by_load,
        }
    }

    /// Placed plus reserved resources on `node`.
    pub(crate) fn total(&self, node: NodeIdx) -> u32 {
        self.placed[node] + self.reserved[node]
    }

    /// Open nodes, least loaded first, then by node id.
    pub(crate) fn open_by_load(&self) -> impl Iterator<Item = (u32, NodeIdx)> + '_ {
        self.by_load.iter().copied()
    }

    pub(crate) fn add_placed(&mut self, node: NodeIdx) {
        self.update(node, |load| load.placed[node] += 1);
    }

    pub(crate) fn add_reserved(&mut self, node: NodeIdx) {
        self.update(node, |load| load.reserved[node] += 1);
    }

    pub(crate) fn remove_reserved(&mut self, node: NodeIdx) {
        self.update(node, |load| load.reserved[node] -= 1);
    }

    fn update(&mut self, node: NodeIdx, change: impl FnOnce(&mut NodeLoad)) {
        if self.open[node] {
            let removed = self.by_load.remove(&(self.total(node), node));
            assert!(removed, "an open node is always in the load order");
        }
        change(self);
        if self.open[node] {
            self.by_load.insert((self.total(node), node));
        }
    }
}
