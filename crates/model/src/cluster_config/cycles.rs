//! Finds a cycle of colocation constraints between placement units (a group or a resource on
//! its own): the scheduler places a colocation's `with` before its dependent, which a cycle
//! makes impossible, so such a configuration is rejected.

use std::collections::BTreeMap;

use crate::{ClusterConfig, Constraint, ResourceId};

/// Returns the resources along one colocation cycle, first repeated at the end, if any.
pub(super) fn colocation_cycle(config: &ClusterConfig) -> Option<Vec<ResourceId>> {
    // A unit is named by its first member for groups, by itself otherwise.
    let mut unit_of: BTreeMap<&ResourceId, &ResourceId> = BTreeMap::new();
    for group in config.groups.values() {
        for member in &group.members {
            unit_of.insert(member, &group.members[0]);
        }
    }
    let unit = |resource: &ResourceId| -> ResourceId {
        unit_of.get(resource).copied().unwrap_or(resource).clone()
    };
    let mut successors: BTreeMap<ResourceId, Vec<ResourceId>> = BTreeMap::new();
    for constraint in &config.constraints {
        if let Constraint::Colocation(colocation) = &config.resolve_constraint(constraint) {
            let (from, to) = (unit(&colocation.with), unit(&colocation.resource));
            if from != to {
                successors.entry(from).or_default().push(to);
            }
        }
    }
    find_cycle(&successors)
}

/// Depth-first search with an explicit stack; a node met again while still on the path
/// closes a cycle.
fn find_cycle(successors: &BTreeMap<ResourceId, Vec<ResourceId>>) -> Option<Vec<ResourceId>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut marks: BTreeMap<&ResourceId, Mark> = BTreeMap::new();
    let no_successors = Vec::new();
    for start in successors.keys() {
        if marks.contains_key(start) {
            continue;
        }
        let mut path: Vec<(&ResourceId, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::OnPath);
        while let Some((node, next)) = path.last_mut() {
            let node: &ResourceId = node;
            let children = successors.get(node).unwrap_or(&no_successors);
            let Some(child) = children.get(*next) else {
                marks.insert(node, Mark::Done);
                path.pop();
                continue;
            };
            *next += 1;
            match marks.get(child) {
                Some(Mark::Done) => {}
                Some(Mark::OnPath) => {
                    let position = path.iter().position(|(n, _)| *n == child).expect("on path");
                    let mut cycle: Vec<ResourceId> =
                        path[position..].iter().map(|(n, _)| (*n).clone()).collect();
                    cycle.push(child.clone());
                    return Some(cycle);
                }
                None => {
                    marks.insert(child, Mark::OnPath);
                    path.push((child, 0));
                }
            }
        }
    }
    None
}
