//! Unit tests of the application protocol server's pure parts: who belongs to an
//! instance's process tree, and secret comparison.

use super::registry::{in_process_tree, same_secret};
use std::collections::HashMap;

/// A process table: pid to (parent, process group).
fn check(table: &[(u32, u32, u32)], peer: u32, leader: u32, expected: bool) {
    let table: HashMap<u32, (u32, u32)> = table
        .iter()
        .map(|&(pid, parent, group)| (pid, (parent, group)))
        .collect();
    let found = in_process_tree(peer, leader, |pid| table.get(&pid).copied());
    assert_eq!(found, expected, "peer {peer}, leader {leader}");
}

#[test]
fn the_leader_its_group_and_its_descendants_belong_to_the_instance() {
    // 100 leads group 100; 101 is its child in the group; 102 a grandchild that made its
    // own group (setsid); 200 an unrelated process whose parent is init.
    let table = [
        (100, 50, 100),
        (101, 100, 100),
        (102, 101, 102),
        (200, 1, 200),
        (50, 1, 50),
    ];
    check(&table, 100, 100, true);
    check(&table, 101, 100, true);
    check(&table, 102, 100, true);
    check(&table, 200, 100, false);
    check(&table, 50, 100, false);
    // A pid that is gone belongs to nobody.
    check(&table, 999, 100, false);
}

#[test]
fn a_parent_cycle_does_not_loop_forever() {
    check(&[(5, 6, 5), (6, 5, 6)], 5, 100, false);
}

#[test]
fn secrets_compare_whole() {
    assert!(same_secret("abc", "abc"));
    assert!(!same_secret("abc", "abd"));
    assert!(!same_secret("abc", "abcd"));
    assert!(!same_secret("", "a"));
}
