//! The order in which placement weighs units: dependencies first (a colocation's `with`, a
//! mandatory order's `first`), then by name.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use model::OrderKind;

use crate::index::{Index, UnitIdx, UnitKind};

/// Orders units so that dependencies come first, then by name; the order depends only on
/// the configuration, never on the observed state, so a round after a carried-out plan
/// weighs units in the same order. Running resources keep their room through reservations,
/// not through the order. A loop of colocations and mandatory orders is broken at an order
/// constraint: the `then` is weighed before its `first`, so it does not stop when the
/// `first` cannot run (the actions are still ordered).
pub(crate) fn unit_order(index: &Index<'_>) -> Vec<UnitIdx> {
    let unit_count = index.units.len();
    // Edges carry whether they come from a colocation: when mandatory orders and
    // colocations loop, the colocation wins (validation rejects loops of colocations alone).
    let mut successors: Vec<Vec<(UnitIdx, bool)>> = vec![Vec::new(); unit_count];
    let mut in_degree = vec![0_usize; unit_count];
    let mut colocation_in_degree = vec![0_usize; unit_count];
    for resource in &index.resources {
        let colocations = resource.colocations.iter().map(|&(with, _)| (with, true));
        let orders = resource
            .order_firsts
            .iter()
            .filter(|(_, kind)| *kind == OrderKind::Mandatory)
            .map(|&(first, _)| (first, false));
        for (dependency, is_colocation) in colocations.chain(orders) {
            let from = index.resources[dependency].unit;
            if from != resource.unit {
                successors[from].push((resource.unit, is_colocation));
                in_degree[resource.unit] += 1;
                if is_colocation {
                    colocation_in_degree[resource.unit] += 1;
                }
            }
        }
    }
    // Rank units by name once, so the queue compares integers rather than strings.
    let name = |unit: UnitIdx| match &index.units[unit].kind {
        UnitKind::Group(group) => group.id.0.as_str(),
        _ => index.resources[index.units[unit].members[0]]
            .id()
            .0
            .as_str(),
    };
    let mut by_name: Vec<UnitIdx> = (0..unit_count).collect();
    by_name.sort_by(|a, b| name(*a).cmp(name(*b)).then(a.cmp(b)));
    let mut rank = vec![0_usize; unit_count];
    for (position, &unit) in by_name.iter().enumerate() {
        rank[unit] = position;
    }
    let key = |unit: UnitIdx| Reverse((rank[unit], unit));
    let mut ready: BinaryHeap<_> = (0..unit_count)
        .filter(|&unit| in_degree[unit] == 0)
        .map(key)
        .collect();
    let mut order = Vec::with_capacity(unit_count);
    let mut taken = vec![false; unit_count];
    while order.len() < unit_count {
        let unit = match ready.pop() {
            Some(Reverse((_, unit))) => unit,
            None => {
                // A loop: take the first remaining unit by name that no colocation waits
                // for, so only an order constraint is ignored; if colocations loop too
                // (unvalidated input), take the first remaining unit.
                let remaining = (0..unit_count).filter(|&unit| !taken[unit]);
                let free = remaining
                    .clone()
                    .filter(|&unit| colocation_in_degree[unit] == 0);
                let Reverse((_, unit)) = free
                    .map(key)
                    .max()
                    .or_else(|| remaining.map(key).max())
                    .expect("some unit remains");
                unit
            }
        };
        if taken[unit] {
            continue;
        }
        taken[unit] = true;
        order.push(unit);
        for &(next, is_colocation) in &successors[unit] {
            in_degree[next] -= 1;
            if is_colocation {
                colocation_in_degree[next] -= 1;
            }
            if in_degree[next] == 0 && !taken[next] {
                ready.push(key(next));
            }
        }
    }
    order
}
