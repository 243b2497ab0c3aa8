//! Scripted tests of the master state machine: events in, the exact commands out.
//!
//! Method: a small in-test runtime (`Harness`) plays Raft: it builds the tick's facts from
//! its own membership and term, applies every write to its own `ClusterDb` at once and
//! answers it, and holds voter changes until the script commits or fails them. `check`
//! runs a script and renders every step that produced commands, one command per line,
//! against an `expect!` block (`UPDATE_EXPECT=1` rewrites them). The detector view
//! (`Publish`, every tick) is left out. Default timing: suspect after 300 ms, down after
//! 500 ms, a lease of 900 ms plus a 50 ms margin.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use cmdb::{AssignmentChange, ClusterDb, CommandResult, OperationReport};
use expect_test::{Expect, expect};
use membership::DetectorConfig;
use model::{BootMs, Millis, NodeId, NodeInfo, Resource, ResourceId, ResourceState};

use super::*;

/// One step of a script.
enum Step {
    /// A master tick at this time.
    Tick(Millis),
    /// Ticks every 20 ms from the first time to the second, with heartbeats every 100 ms
    /// from the listed nodes.
    Run(Millis, Millis, &'static [u64]),
    /// A heartbeat from a node.
    Beat(Millis, u64),
    /// The heartbeat handler grants a node a lease; the master loop does not see the
    /// heartbeat (it is busy), only the grant at its next tick.
    Grant(Millis, u64),
    /// The runtime checks the judgement of the last tick: these nodes are down.
    Judged(&'static [u64]),
    /// This node loses the leadership (a higher term elsewhere).
    Depose,
    /// The voter change in flight commits, or fails.
    VotersDone(Millis, bool),
    /// A write applied by the operator (or a report forwarded by a node), not the master.
    Apply(cmdb::Command),
    // --- fence ---
    /// The fence in flight ends: confirmed, or failed.
    FenceDone(Millis, bool),
}

struct Harness {
    master: Master,
    db: ClusterDb,
    term: u64,
    leading: bool,
    voters: BTreeSet<NodeId>,
    learners: BTreeSet<NodeId>,
    pending_voters: Option<BTreeSet<NodeId>>,
    applied: u64,
    /// Lease grants the heartbeat handler recorded in this term, handed over at ticks.
    granted: BTreeMap<NodeId, BootMs>,
    /// Members whose Raft side acknowledges the master (`RaftFacts::raft_acked`).
    raft_acked: BTreeSet<NodeId>,
    /// The fence in flight (`Command::Fence`), until the script ends it.
    fence: Option<(u64, NodeId)>,
    /// The master of the term before, and when this node last heard from it.
    older_leader: Option<(NodeId, BootMs)>,
}

fn info(id: u64) -> NodeInfo {
    NodeInfo {
        name: format!("n{id}"),
        peer_addr: format!("127.0.0.{id}:7000"),
        api_addr: format!("127.0.0.{id}:7001"),
    }
}

fn ids(list: &[u64]) -> BTreeSet<NodeId> {
    list.iter().copied().map(NodeId).collect()
}

impl Harness {
    fn new(voters: &[u64], learners: &[u64], bootstrap: bool) -> Harness {
        let bootstrap = bootstrap.then(|| BootstrapRecords {
            cluster_name: "test".into(),
            admin_token_hash: "a1".into(),
            join_token_hash: "j1".into(),
            ca_cert_pem: "CERT".into(),
            ca_key_pem: "KEY".into(),
        });
        let config = MasterConfig {
            node: NodeId(1),
            detector: DetectorConfig::default(),
            // The voters are as many as the cluster wants: the policy changes them only when
            // one is down.
            voters_max: voters.len(),
            witness: false,
            bootstrap,
        };
        Harness {
            master: Master::new(config),
            db: ClusterDb::default(),
            term: 2,
            leading: true,
            voters: ids(voters),
            learners: ids(learners),
            pending_voters: None,
            applied: 0,
            granted: BTreeMap::new(),
            raft_acked: BTreeSet::new(),
            fence: None,
            older_leader: None,
        }
    }

    /// This node followed `node`, the master of the term before, and last heard from it
    /// at `at`.
    fn followed(mut self, node: u64, at: Millis) -> Harness {
        self.older_leader = Some((NodeId(node), BootMs(at)));
        self
    }

    /// Members whose Raft side acknowledges the master though their agents may be silent.
    fn raft_acking(mut self, nodes: &[u64]) -> Harness {
        self.raft_acked = ids(nodes);
        self
    }

    /// A cluster that already has its node records (an earlier master wrote them).
    fn registered(mut self) -> Harness {
        let members: Vec<NodeId> = self.voters.union(&self.learners).copied().collect();
        for id in members {
            self.apply(cmdb::Command::UpsertNode {
                id,
                info: info(id.0),
                at_ms: 0,
            });
        }
        self
    }

    fn apply(&mut self, command: cmdb::Command) -> CommandResult {
        self.applied += 1;
        self.db.apply(command)
    }

    fn facts(&self) -> RaftFacts {
        let members = self
            .voters
            .union(&self.learners)
            .map(|id| (*id, info(id.0)))
            .collect();
        RaftFacts {
            term: self.term,
            leading: self.leading,
            voters: self.voters.clone(),
            learners: self.learners.clone(),
            configs: vec![self.voters.clone()],
            members,
            applied_index: self.applied,
            own_older_contact: BootMs(0),
            older_leader: self.older_leader,
            raft_acked: self.raft_acked.clone(),
            raft_fresh: BTreeSet::new(),
        }
    }

    fn tick(&self) -> Event {
        Event::Tick {
            raft: self.facts(),
            granted: self.granted.clone(),
        }
    }

    /// Hands `event` to the master and plays the runtime's part; returns the rendered
    /// commands.
    fn feed(&mut self, event: Event, now: Millis) -> Vec<String> {
        let now = Now {
            boot: BootMs(now),
            wall: now,
        };
        let mut lines = Vec::new();
        let mut queue: std::collections::VecDeque<Command> =
            self.master.handle(event, &self.db, now).into();
        while let Some(command) = queue.pop_front() {
            let reply = match &command {
                Command::Publish(_) => continue,
                Command::Write { id, command } => {
                    lines.push(write_label(command));
                    let result = self.apply(command.clone());
                    Event::WriteDone {
                        id: *id,
                        result: Ok(result),
                    }
                }
                Command::ChangeVoters { voters } => {
                    lines.push(format!("change voters to {:?}", nodes(voters)));
                    self.pending_voters = Some(voters.clone());
                    continue;
                }
                Command::Fence { id, node, run } => {
                    let first = match run.next() {
                        resource_agents::fence::levels::FenceNext::Call { device, call } => {
                            format!("{device} {} plug {:?}", call.action, call.plug)
                        }
                        other => format!("{other:?}"),
                    };
                    lines.push(format!("fence {node}: {first}"));
                    self.fence = Some((*id, *node));
                    continue;
                }
            };
            queue.extend(self.master.handle(reply, &self.db, now));
        }
        lines
    }

    fn step(&mut self, step: Step, out: &mut String) {
        match step {
            Step::Tick(now) => self.show(out, format!("@{now} tick"), self.tick(), now),
            Step::Run(from, to, beating) => {
                for now in (from..=to).step_by(20) {
                    if now % 100 == 0 {
                        for node in beating {
                            let beat = heartbeat(*node, self.term);
                            self.show(out, format!("@{now} heartbeat from {node}"), beat, now);
                        }
                    }
                    self.show(out, format!("@{now} tick"), self.tick(), now);
                }
            }
            Step::Beat(now, node) => {
                let beat = heartbeat(node, self.term);
                self.show(out, format!("@{now} heartbeat from {node}"), beat, now);
            }
            Step::Grant(at, node) => {
                self.granted.insert(NodeId(node), BootMs(at));
                writeln!(out, "@{at} lease granted to {node}").expect("write to a string");
            }
            Step::Judged(down) => {
                let judged = self.master.judged();
                let found: Vec<u64> = (judged.iter())
                    .filter(|(_, health)| **health == model::NodeHealth::Down)
                    .map(|(id, _)| id.0)
                    .collect();
                assert_eq!(found, down, "nodes judged down");
            }
            Step::Depose => {
                self.leading = false;
                self.term += 1;
                writeln!(out, "deposed").expect("write to a string");
            }
            Step::VotersDone(now, ok) => {
                let voters = self
                    .pending_voters
                    .take()
                    .expect("a voter change in flight");
                let result = if ok {
                    self.learners = self.voters.union(&self.learners).copied().collect();
                    self.learners.retain(|id| !voters.contains(id));
                    self.voters = voters;
                    Ok(())
                } else {
                    Err("timed out".to_string())
                };
                let label = format!("@{now} voters changed: {result:?}");
                self.show(out, label, Event::VotersChanged { result }, now);
            }
            Step::Apply(command) => {
                self.apply(command);
            }
            Step::FenceDone(now, confirmed) => {
                let (id, node) = self.fence.take().expect("a fence in flight");
                let detail = if confirmed {
                    "ipmi: off succeeded"
                } else {
                    "timed out"
                };
                let event = Event::FenceDone {
                    id,
                    node,
                    confirmed,
                    detail: detail.into(),
                };
                self.show(out, format!("@{now} fence done"), event, now);
            }
        }
    }

    fn show(&mut self, out: &mut String, label: String, event: Event, now: Millis) {
        let lines = self.feed(event, now);
        if !lines.is_empty() {
            writeln!(out, "{label}").expect("write to a string");
            for line in lines {
                writeln!(out, "  {line}").expect("write to a string");
            }
        }
    }
}

fn heartbeat(node: u64, term: u64) -> Event {
    Event::Heartbeat(Beat {
        node: NodeId(node),
        term,
        older_contact: BootMs(0),
        loop_lag_ms: 0,
        // The machine reads a heartbeat no later than its `now`: received as handled.
        received: BootMs(u64::MAX),
    })
}

fn nodes(set: &BTreeSet<NodeId>) -> Vec<u64> {
    set.iter().map(|id| id.0).collect()
}

fn write_label(command: &cmdb::Command) -> String {
    match command {
        cmdb::Command::RecordEvents { events, .. } => {
            let described: Vec<String> = events.iter().map(event_label).collect();
            format!("write events: {}", described.join("\n    "))
        }
        cmdb::Command::SetNodeHealth { changes, .. } => {
            let described: Vec<String> = changes
                .iter()
                .map(|(node, health, _)| format!("{node} {health}"))
                .collect();
            format!("write health: {}", described.join(", "))
        }
        cmdb::Command::ChangeAssignments { changes } => {
            let described: Vec<String> = changes
                .iter()
                .map(|change| match change {
                    AssignmentChange::Assign { node, resource } => {
                        format!("assign {resource} to {node}")
                    }
                    AssignmentChange::Unassign { node, resource } => {
                        format!("unassign {resource} from {node}")
                    }
                    AssignmentChange::Lost { node, resource } => {
                        format!("lost {resource} on {node}")
                    }
                })
                .collect();
            format!("write assignments: {}", described.join(", "))
        }
        other => format!("write {other}"),
    }
}

/// An event in short: reasons are left out.
fn event_label(event: &EventKind) -> String {
    match event {
        EventKind::NodeRole { node, role, .. } => format!("node {node} is now a {role}"),
        EventKind::ResourceAction {
            resource,
            node,
            action,
            ..
        } => format!("{action} {resource} on {node}"),
        other => other.describe(),
    }
}

fn check(mut harness: Harness, steps: Vec<Step>, expected: Expect) {
    let mut out = String::new();
    for step in steps {
        harness.step(step, &mut out);
    }
    expected.assert_eq(&out);
}

fn vip() -> Resource {
    Resource {
        id: ResourceId("vip".into()),
        type_name: "process".into(),
        params: BTreeMap::from([("command".to_owned(), "sleep".to_owned())]),
        options: model::ResourceOptions::default(),
        unique: true,
        clone: None,
        utilization: BTreeMap::new(),
    }
}

fn started(node: u64, token: u64) -> cmdb::Command {
    cmdb::Command::RecordOperation {
        node: NodeId(node),
        report: OperationReport {
            resource: ResourceId("vip".into()),
            operation: "start".into(),
            fencing_token: token,
            ok: true,
            state_after: ResourceState::Running,
            reason: None,
            started_at: 0,
            finished_at: 0,
        },
        at_ms: 0,
    }
}

fn vip_on_node_2() -> Vec<Step> {
    let assign = AssignmentChange::Assign {
        node: NodeId(2),
        resource: ResourceId("vip".into()),
    };
    vec![
        Step::Apply(cmdb::Command::PutResource {
            resource: vip(),
            create: true,
        }),
        Step::Apply(cmdb::Command::ChangeAssignments {
            changes: vec![assign],
        }),
        Step::Apply(started(2, 1)),
    ]
}

#[test]
fn new_master_takes_over_and_bootstraps() {
    check(
        Harness::new(&[1, 2, 3], &[], true),
        vec![Step::Tick(1_000), Step::Tick(1_020)],
        expect![[r#"
            @1000 tick
              write add Admin token admin (from init)
              write add Join token join (from init)
              write init cluster test
              write raise the cluster format to 3
              write events: node 1 is master (term 2)
              write upsert node 1
              write upsert node 2
              write upsert node 3
        "#]],
    );
}

#[test]
fn a_bootstrapped_cluster_is_not_bootstrapped_again() {
    let mut steps = vec![Step::Apply(cmdb::Command::InitCluster {
        name: "test".into(),
        ca_cert_pem: "CERT".into(),
        ca_key_pem: "KEY".into(),
        at_ms: 0,
    })];
    steps.push(Step::Tick(1_000));
    check(
        Harness::new(&[1, 2, 3], &[], true).registered(),
        steps,
        expect![[r#"
            @1000 tick
              write events: node 1 is master (term 2)
        "#]],
    );
}

#[test]
fn heartbeats_keep_a_node_online() {
    check(
        Harness::new(&[1, 2, 3], &[], false).registered(),
        vec![Step::Run(0, 3_000, &[2, 3])],
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
        "#]],
    );
}

#[test]
fn silence_makes_a_node_suspect_then_down_and_its_resource_moves_after_its_lease() {
    // Node 2 runs the unique vip and is last heard at 100 ms (node 1 is the only voter, so
    // the quorum policy stays out of the way). It is suspect at 400 ms and
    // down at 600 ms, but its lease may run until 100 + 900 + 50 ms: only then is the vip
    // written off there and granted elsewhere.
    let mut steps = vip_on_node_2();
    steps.push(Step::Run(0, 100, &[2, 3]));
    steps.push(Step::Run(120, 1_100, &[3]));
    check(
        Harness::new(&[1], &[2, 3], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 2 suspect
            @600 tick
              write health: 2 down
            @1060 tick
              write assignments: lost vip on 2, assign vip to 1
              write events: lost vip on 2
                start vip on 1
        "#]],
    );
}

#[test]
fn a_deposed_master_stops_acting() {
    // Deposed before node 2's lease ends: the old master neither records health nor moves
    // the vip, whatever it hears.
    let mut steps = vip_on_node_2();
    steps.push(Step::Run(0, 100, &[2, 3]));
    steps.push(Step::Run(120, 400, &[3]));
    steps.push(Step::Depose);
    steps.push(Step::Run(420, 2_000, &[3]));
    steps.push(Step::Beat(2_010, 2));
    check(
        Harness::new(&[1], &[2, 3], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 2 suspect
            deposed
        "#]],
    );
}

#[test]
fn a_down_voter_is_replaced_by_a_learner_one_change_at_a_time() {
    // Voters 1, 2, 3 and learners 4, 5: node 2 falls silent and is replaced by learner 4.
    // Node 3 then falls silent too, but no second change is planned until the first has
    // committed; then 1, 4, 5 remain online, a majority of 1, 3, 4, so 3 is replaced by 5.
    let steps = vec![
        Step::Run(0, 100, &[2, 3, 4, 5]),
        Step::Run(120, 700, &[3, 4, 5]),
        Step::Run(720, 1_400, &[4, 5]),
        Step::VotersDone(1_410, true),
        Step::Run(1_420, 1_500, &[4, 5]),
        Step::VotersDone(1_510, true),
        Step::Run(1_520, 1_600, &[4, 5]),
    ];
    check(
        Harness::new(&[1, 2, 3], &[4, 5], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 2 suspect
            @600 tick
              write health: 2 down
              change voters to [1, 3, 4]
            @1000 tick
              write health: 3 suspect
            @1200 tick
              write health: 3 down
            @1410 voters changed: Ok(())
              write events: node 2 is now a learner
                node 4 is now a voter
            @1420 tick
              change voters to [1, 4, 5]
            @1510 voters changed: Ok(())
              write events: node 3 is now a learner
                node 5 is now a voter
        "#]],
    );
}

#[test]
fn voters_change_only_while_a_majority_is_online() {
    // Voters 1, 2, 3 and learners 4, 5: nodes 2 and 3 fall silent together. The master
    // alone is no majority of the voters, so it changes nothing, though learners are up.
    let steps = vec![
        Step::Run(0, 100, &[2, 3, 4, 5]),
        Step::Run(120, 2_000, &[4, 5]),
    ];
    check(
        Harness::new(&[1, 2, 3], &[4, 5], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 2 suspect, 3 suspect
            @600 tick
              write health: 2 down, 3 down
        "#]],
    );
}

#[test]
fn a_node_not_heard_in_this_term_does_not_count_for_quorum() {
    // The detector's grace period shows every member online, but learner 4 was never heard
    // in this term: it is not promoted, though the voters are below the target size.
    let steps = vec![Step::Run(0, 200, &[2, 3])];
    check(
        Harness::new(&[1, 2, 3], &[4], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
        "#]],
    );
}

#[test]
fn a_voter_never_heard_in_this_term_keeps_its_vote_through_the_start_up_grace() {
    // A cluster starting: voter 2's Raft side acknowledges the master but its agent's
    // heartbeats are slow to come. The detector finds it down at its usual speed
    // (resources do not wait), but the voter set is not shrunk until UNHEARD_VOTER_GRACE
    // (5 s) after the term began; then learner 4 replaces it.
    let steps = vec![Step::Run(0, 5_100, &[3, 4])];
    check(
        Harness::new(&[1, 2, 3], &[4], false)
            .registered()
            .raft_acking(&[2, 3, 4]),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @300 tick
              write health: 2 suspect
            @500 tick
              write health: 2 down
            @5000 tick
              change voters to [1, 3, 4]
        "#]],
    );
}

#[test]
fn a_voter_that_acknowledges_nothing_is_replaced_at_the_detectors_speed() {
    // The old master died and this node took over: voter 2 was never heard in this term
    // and its Raft side is silent too, so there is no start-up to wait for.
    let steps = vec![Step::Run(0, 600, &[3, 4])];
    check(
        Harness::new(&[1, 2, 3], &[4], false)
            .registered()
            .raft_acking(&[3, 4]),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @300 tick
              write health: 2 suspect
            @500 tick
              write health: 2 down
              change voters to [1, 3, 4]
        "#]],
    );
}

#[test]
fn a_failed_voter_change_is_planned_again() {
    let steps = vec![
        Step::Run(0, 100, &[2, 3, 4]),
        Step::Run(120, 600, &[3, 4]),
        Step::VotersDone(610, false),
        Step::Tick(620),
    ];
    check(
        Harness::new(&[1, 2, 3], &[4], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 2 suspect
            @600 tick
              write health: 2 down
              change voters to [1, 3, 4]
            @620 tick
              change voters to [1, 3, 4]
        "#]],
    );
}

#[test]
fn grants_rest_on_a_fresh_quorum_acknowledgement() {
    use std::time::Duration;
    assert_eq!(grant_age(false, true, None), None);
    assert_eq!(grant_age(true, true, None), Some(0));
    assert_eq!(grant_age(true, false, None), None);
    assert_eq!(
        grant_age(true, false, Some(Duration::from_millis(40))),
        Some(40)
    );
    assert_eq!(grant_age(true, false, Some(QUORUM_FRESH)), Some(100));
    assert_eq!(
        grant_age(true, false, Some(Duration::from_millis(101))),
        None
    );
}

#[test]
fn a_lease_granted_on_a_heartbeat_the_loop_has_not_seen_still_runs() {
    // Node 2 is last heard by the loop at 100 ms, but the heartbeat handler granted it a
    // lease at 500 ms (its heartbeat waits in the channel while the loop writes). The
    // detector says down at 600 ms; the vip stays on node 2 until 500 + 900 + 50 ms, and
    // node 2 is judged down (refused leases) only from then on.
    let mut steps = vip_on_node_2();
    steps.push(Step::Run(0, 100, &[2, 3]));
    steps.push(Step::Run(120, 480, &[3]));
    steps.push(Step::Grant(500, 2));
    steps.push(Step::Run(500, 1_440, &[3]));
    steps.push(Step::Judged(&[]));
    steps.push(Step::Run(1_460, 1_460, &[3]));
    steps.push(Step::Judged(&[2]));
    check(
        Harness::new(&[1], &[2, 3], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 2 suspect
            @500 lease granted to 2
            @600 tick
              write health: 2 down
            @1460 tick
              write assignments: lost vip on 2, assign vip to 1
              write events: lost vip on 2
                start vip on 1
        "#]],
    );
}

// --- fence ---
/// A fencing device covering node 2 (`n2`) under the plug `bmc2`, in a cluster at this
/// build's format (a device needs format 2).
fn fence_device_for_node_2() -> [Step; 2] {
    let raise = cmdb::Command::SetClusterFormat {
        format: cmdb::FORMAT_CURRENT,
    };
    let put = cmdb::Command::PutFenceDevice {
        device: model::FenceDevice {
            name: "ipmi".into(),
            agent: "fence_ipmilan".into(),
            params: BTreeMap::new(),
            hosts: BTreeMap::from([("n2".to_string(), "bmc2".to_string())]),
            level: 1,
            timeout: std::time::Duration::from_secs(5),
            action: model::FenceAction::Off,
        },
    };
    [Step::Apply(raise), Step::Apply(put)]
}

/// A fenced node that comes back (it rebooted) heartbeats while the detector still finds
/// it down: it is not fenced again then, which would power it off as it rejoins. Once it
/// is online again and then lost again, that new loss is fenced.
#[test]
fn a_fenced_node_that_comes_back_is_not_fenced_again_until_it_is_lost_again() {
    let mut steps = vip_on_node_2();
    steps.extend(fence_device_for_node_2());
    steps.push(Step::Run(0, 100, &[2, 3]));
    steps.push(Step::Run(120, 620, &[3]));
    steps.push(Step::FenceDone(640, true));
    steps.push(Step::Run(660, 1000, &[3]));
    // Node 2 reboots and heartbeats again.
    steps.push(Step::Run(1020, 2000, &[2, 3]));
    // And is lost again.
    steps.push(Step::Run(2020, 2700, &[3]));
    check(
        Harness::new(&[1], &[2, 3], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 2 suspect
            @600 tick
              write health: 2 down
              fence 2: ipmi off plug Some("bmc2")
              write events: fencing node 2 (lost) started: devices: ipmi
            @640 fence done
              write events: fencing node 2 (lost) confirmed: ipmi: off succeeded
            @660 tick
              write assignments: lost vip on 2, assign vip to 1
              write events: lost vip on 2
                start vip on 1
            @1400 heartbeat from 2
              write health: 2 online
            @2300 tick
              write health: 2 suspect
            @2500 tick
              write health: 2 down
              fence 2: ipmi off plug Some("bmc2")
              write events: fencing node 2 (lost) started: devices: ipmi
        "#]],
    );
}

#[test]
fn a_lost_node_is_fenced_and_its_resource_moves_once_the_fence_is_confirmed() {
    // As in the test above, node 2 is down at 600 ms, but a device covers it: the master
    // fences it at once, and once the fence is confirmed (640 ms) the vip starts on node 1
    // at the next tick, long before the lease would have ended (1060 ms).
    let mut steps = vip_on_node_2();
    steps.extend(fence_device_for_node_2());
    steps.push(Step::Run(0, 100, &[2, 3]));
    steps.push(Step::Run(120, 620, &[3]));
    steps.push(Step::FenceDone(640, true));
    steps.push(Step::Run(660, 700, &[3]));
    check(
        Harness::new(&[1], &[2, 3], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 2 suspect
            @600 tick
              write health: 2 down
              fence 2: ipmi off plug Some("bmc2")
              write events: fencing node 2 (lost) started: devices: ipmi
            @640 fence done
              write events: fencing node 2 (lost) confirmed: ipmi: off succeeded
            @660 tick
              write assignments: lost vip on 2, assign vip to 1
              write events: lost vip on 2
                start vip on 1
        "#]],
    );
}

/// A fence slower than the lost node's lease holds its resources until it ends: with a
/// device covering the node, nothing starts elsewhere before the device has answered.
#[test]
fn a_slow_fence_holds_the_resource_past_the_lease_until_it_is_confirmed() {
    let mut steps = vip_on_node_2();
    steps.extend(fence_device_for_node_2());
    steps.push(Step::Run(0, 100, &[2, 3]));
    steps.push(Step::Run(120, 1_400, &[3]));
    steps.push(Step::FenceDone(1_420, true));
    steps.push(Step::Run(1_440, 1_460, &[3]));
    check(
        Harness::new(&[1], &[2, 3], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 2 suspect
            @600 tick
              write health: 2 down
              fence 2: ipmi off plug Some("bmc2")
              write events: fencing node 2 (lost) started: devices: ipmi
            @1420 fence done
              write events: fencing node 2 (lost) confirmed: ipmi: off succeeded
            @1440 tick
              write assignments: lost vip on 2, assign vip to 1
              write events: lost vip on 2
                start vip on 1
        "#]],
    );
}

#[test]
fn a_failed_fence_falls_back_to_the_lease() {
    let mut steps = vip_on_node_2();
    steps.extend(fence_device_for_node_2());
    steps.push(Step::Run(0, 100, &[2, 3]));
    steps.push(Step::Run(120, 620, &[3]));
    steps.push(Step::FenceDone(640, false));
    steps.push(Step::Run(660, 1_100, &[3]));
    check(
        Harness::new(&[1], &[2, 3], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 2 suspect
            @600 tick
              write health: 2 down
              fence 2: ipmi off plug Some("bmc2")
              write events: fencing node 2 (lost) started: devices: ipmi
            @640 fence done
              write events: fencing node 2 (lost) failed: timed out; waiting for the lease instead
            @1060 tick
              write assignments: lost vip on 2, assign vip to 1
              write events: lost vip on 2
                start vip on 1
        "#]],
    );
}

#[test]
fn a_confirmed_fence_counts_for_nothing_once_the_node_got_a_lease_after_it_began() {
    // The heartbeat handler granted node 2 a lease at 610 ms, after the fence began: a fence
    // agent that then reports it off is not believed, and the vip waits for that lease
    // (610 + 950 ms).
    let mut steps = vip_on_node_2();
    steps.extend(fence_device_for_node_2());
    steps.push(Step::Run(0, 100, &[2, 3]));
    steps.push(Step::Run(120, 600, &[3]));
    steps.push(Step::Grant(610, 2));
    steps.push(Step::FenceDone(640, true));
    steps.push(Step::Run(660, 1_600, &[3]));
    check(
        Harness::new(&[1], &[2, 3], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 2 suspect
            @600 tick
              write health: 2 down
              fence 2: ipmi off plug Some("bmc2")
              write events: fencing node 2 (lost) started: devices: ipmi
            @610 lease granted to 2
            @640 fence done
              write events: fencing node 2 (lost) confirmed: ipmi: off succeeded
            @1560 tick
              write assignments: lost vip on 2, assign vip to 1
              write events: lost vip on 2
                start vip on 1
        "#]],
    );
}

#[test]
fn a_node_without_a_covering_device_is_not_fenced() {
    let mut steps = vip_on_node_2();
    steps.extend(fence_device_for_node_2());
    steps.push(Step::Run(0, 100, &[2, 3]));
    steps.push(Step::Run(120, 700, &[2]));
    check(
        Harness::new(&[1], &[2, 3], false).registered(),
        steps,
        expect![[r#"
            @0 tick
              write events: node 1 is master (term 2)
            @400 tick
              write health: 3 suspect
            @600 tick
              write health: 3 down
        "#]],
    );
}

/// A master that crashes is declared down (and fenced) when its successor takes over, if
/// the successor has not heard from it for `down_after` already: its silence counts from
/// its last append, not from the election. Here node 1 followed node 2 until 0 ms and is
/// elected at 500 ms; node 2's VIP moves once the fence is confirmed. Without that
/// evidence (the second script) the new master waits `down_after` from its election.
#[test]
fn a_crashed_old_masters_silence_counts_from_its_last_append() {
    let mut steps = vip_on_node_2();
    steps.extend(fence_device_for_node_2());
    steps.push(Step::Run(500, 560, &[3]));
    steps.push(Step::FenceDone(580, true));
    steps.push(Step::Run(600, 640, &[3]));
    check(
        Harness::new(&[1], &[2, 3], false)
            .registered()
            .followed(2, 0),
        steps,
        expect![[r#"
            @500 tick
              write events: node 1 is master (term 2)
              write health: 2 down
              fence 2: ipmi off plug Some("bmc2")
              write events: fencing node 2 (lost) started: devices: ipmi
            @580 fence done
              write events: fencing node 2 (lost) confirmed: ipmi: off succeeded
            @600 tick
              write assignments: lost vip on 2, assign vip to 1
              write events: lost vip on 2
                start vip on 1
        "#]],
    );
    let mut steps = vip_on_node_2();
    steps.extend(fence_device_for_node_2());
    steps.push(Step::Run(500, 1060, &[3]));
    check(
        Harness::new(&[1], &[2, 3], false).registered(),
        steps,
        expect![[r#"
            @500 tick
              write events: node 1 is master (term 2)
            @800 tick
              write health: 2 suspect
            @960 tick
              write assignments: lost vip on 2, assign vip to 1
              write events: lost vip on 2
                start vip on 1
            @1000 tick
              write health: 2 down
              fence 2: ipmi off plug Some("bmc2")
              write events: fencing node 2 (lost) started: devices: ipmi
        "#]],
    );
}

/// The old master's evidence never shortens anyone else's grace, and a heartbeat from the
/// old master, alive after all, ends its silence before the first tick judges it.
#[test]
fn an_old_master_that_heartbeats_is_not_declared_down() {
    let mut steps = vip_on_node_2();
    steps.push(Step::Beat(500, 2));
    steps.push(Step::Run(500, 900, &[2]));
    check(
        Harness::new(&[1], &[2, 3], false)
            .registered()
            .followed(2, 0),
        steps,
        expect![[r#"
            @500 tick
              write events: node 1 is master (term 2)
            @800 tick
              write health: 3 suspect
        "#]],
    );
}
