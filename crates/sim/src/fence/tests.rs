//! Scripted fences: a quiet three-node cluster runs one unique resource, its holder is cut
//! off while alive and working (the failure detector cannot tell it from a dead node), and
//! its device powers it off, fails, or hangs. Each test checks the path the master took.

use std::collections::BTreeSet;
use std::time::Duration;

use model::{Millis, NodeId, Resource, ResourceId, ResourceOptions};

use super::{DeviceAnswer, FenceSetup, device};
use crate::config::SimConfig;
use crate::raft::{Entry, Origin};
use crate::rng::Rng;
use crate::world::{Ev, Phase, World};

/// What happened around the cut.
struct Failover {
    holder: NodeId,
    cut_at: Millis,
    /// The end of the longest lease the holder was granted.
    lease_end: Millis,
    /// The first start of the resource on another node: when, and where.
    started_at: Millis,
    /// The holder's fence: when it began and ended, and whether it was confirmed.
    fence_started: Millis,
    fence_ended: Millis,
    confirmed: bool,
    world: World,
}

fn resource() -> Resource {
    Resource {
        id: ResourceId("vip".into()),
        type_name: "process".into(),
        params: Default::default(),
        options: ResourceOptions {
            monitor_interval: Duration::from_millis(500),
            monitor_timeout: Duration::from_secs(1),
            start_timeout: Duration::from_secs(1),
            stop_timeout: Duration::from_secs(1),
            ..ResourceOptions::default()
        },
        unique: true,
        clone: None,
        utilization: Default::default(),
    }
}

/// Runs the scenario with a device whose every call answers `answer`, timing out at
/// `timeout_ms`.
fn failover(answer: DeviceAnswer, timeout_ms: Millis) -> Failover {
    let mut config = SimConfig::for_seed(1, 0, 0);
    config.nodes = 3;
    config.voters_max = 3;
    let mut rng = Rng::new(1);
    let nodes = [NodeId(1), NodeId(2), NodeId(3)];
    let mut power = device(&mut rng, "power", 1, &nodes);
    power.timeout = Duration::from_millis(timeout_ms);
    config.fencing = Some(FenceSetup {
        devices: vec![power],
        fail_percent: 0,
        hang_percent: 0,
        forced: Some(answer),
    });
    let mut world = World::new(1, config);
    // No faults, no failing operations: only the cut below.
    world.phase = Phase::Quiesce;
    world.at(300, Ev::ConfigureFencing);
    run(&mut world, 1_000);
    let leader = world.raft.leader.expect("a master within a second");
    let command = cmdb::Command::PutResource {
        resource: resource(),
        create: true,
    };
    world.propose(leader, Entry::Command(command), Origin::Operator);
    let id = ResourceId("vip".into());
    let holder = loop {
        let step = world.now + 10;
        run(&mut world, step);
        if let Some((node, ..)) = world.checker.fenced.last_start(&id) {
            break node;
        }
        assert!(world.now < 5_000, "the resource never started");
    };
    let settled = world.now + 1_000;
    run(&mut world, settled);
    assert!(world.fencing.starts.is_empty(), "no fence before the cut");
    let cut_at = world.now;
    world.net.cut(BTreeSet::from([holder]));
    let started_at = loop {
        let step = world.now + 5;
        run(&mut world, step);
        match world.checker.fenced.last_start(&id) {
            Some((node, _, at)) if node != holder => break at,
            _ => assert!(world.now < cut_at + 10_000, "the resource never moved"),
        }
    };
    let lease_end = world.checker.fenced.lease_end(holder);
    let [(fence_started, fenced)] = world.fencing.starts[..] else {
        panic!("one fence expected: {:?}", world.fencing.starts);
    };
    assert_eq!(fenced, holder);
    let [(fence_ended, fenced, confirmed)] = world.fencing.ends[..] else {
        panic!("one fence end expected: {:?}", world.fencing.ends);
    };
    assert_eq!(fenced, holder);
    Failover {
        holder,
        cut_at,
        lease_end,
        started_at,
        fence_started,
        fence_ended,
        confirmed,
        world,
    }
}

fn run(world: &mut World, until: Millis) {
    if let Err(violation) = world.run_until(until) {
        panic!("{violation}; {}", world.describe());
    }
}

#[test]
fn a_confirmed_fence_starts_the_resource_elsewhere_before_the_lease_ends() {
    let run = failover(DeviceAnswer::PowersOff, 100);
    assert!(run.confirmed);
    assert!(run.fence_started > run.cut_at);
    // The device powered the holder off at the confirmation: nothing of it runs.
    assert_eq!(
        run.world.fencing.off_at.get(&run.holder),
        Some(&run.fence_ended)
    );
    assert!(!run.world.nodes[&run.holder].up);
    assert!(
        !run.world
            .procs
            .alive
            .keys()
            .any(|(node, _)| *node == run.holder)
    );
    // Started right after the confirmation, without waiting for the holder's lease.
    assert!(run.started_at >= run.fence_ended, "{}", run.started_at);
    assert!(run.started_at < run.fence_ended + 100, "{}", run.started_at);
    assert!(
        run.started_at < run.lease_end,
        "{} {}",
        run.started_at,
        run.lease_end
    );
}

#[test]
fn a_failed_fence_falls_back_to_the_lease() {
    let run = failover(DeviceAnswer::Fails, 600);
    assert!(!run.confirmed);
    assert!(run.fence_ended < run.fence_started + 100);
    // Not powered off: the holder, cut off, stopped the resource itself as its lease ran
    // out, and the resource started elsewhere only after that lease.
    assert!(run.world.fencing.off_at.is_empty());
    assert!(run.world.nodes[&run.holder].up);
    assert!(
        run.started_at >= run.lease_end,
        "{} {}",
        run.started_at,
        run.lease_end
    );
    assert!(
        !run.world
            .procs
            .alive
            .keys()
            .any(|(node, _)| *node == run.holder)
    );
}

#[test]
fn a_fence_that_times_out_is_heard_out_and_falls_back_to_the_lease() {
    // The device hangs past the holder's lease: the master waits for its answer anyway.
    let run = failover(DeviceAnswer::Hangs, 2_000);
    assert!(!run.confirmed);
    assert_eq!(run.fence_ended, run.fence_started + 2_000);
    assert!(run.fence_ended > run.lease_end);
    assert!(run.world.fencing.off_at.is_empty());
    assert!(
        run.started_at >= run.fence_ended,
        "{} {}",
        run.started_at,
        run.fence_ended
    );
    assert!(run.started_at >= run.lease_end);
}
