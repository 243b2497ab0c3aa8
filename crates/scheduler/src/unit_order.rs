//! The order in which placement weighs units: dependencies first (a colocation's `with`, a
//! mandatory order's `first`), then by name.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use model::OrderKind;

use crate::index::{Index, UnitIdx, UnitKind};

/// Orders units so that dependencies come first, then by name; the order depends only on
/// the configuration, never on the observed state, so a round after a carried-out plan
/// weighs units in the same order. Running resources keep their room through reservations,
/// not through the order. Cycles are broken by taking the smallest remaining unit, whose
/// constraints towards units not yet placed are then ignored.
pub(crate) fn unit_order(index: &Index<'_>) -> Vec<UnitIdx> {
    let unit_count = index.units.len();
    let mut successors: Vec<Vec<UnitIdx>> = vec![Vec::new(); unit_count];
    let mut in_degree = vec![0_usize; unit_count];
    for resource in &index.resources {
        let dependencies = resource.colocations.iter().map(|&(with, _)| with).chain(
            resource
                .order_firsts
                .iter()
                .filter(|(_, kind)| *kind == OrderKind::Mandatory)
                .map(|&(first, _)| first),
        );
        for dependency in dependencies {
            let from = index.resources[dependency].unit;
            if from != resource.unit {
                successors[from].push(resource.unit);
                in_degree[resource.unit] += 1;
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
                let remaining = (0..unit_count).filter(|&unit| !taken[unit]).map(key).max();
                let Reverse((_, unit)) = remaining.expect("some unit remains");
                unit
            }
        };
        if taken[unit] {
            continue;
        }
        taken[unit] = true;
        order.push(unit);
        for &next in &successors[unit] {
            in_degree[next] -= 1;
            if in_degree[next] == 0 && !taken[next] {
                ready.push(key(next));
            }
        }
    }
    order
}
