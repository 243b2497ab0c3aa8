//! Times a full placement of 10,000 resources on 100 nodes (issue 3 target: under 100 ms).
//!
//! Method: build an input (100 nodes, one down and one in standby; 10,000 resources of which
//! some are grouped, cloned, constrained or already running), call `schedule` 30 times, and
//! print the median and p99. Two inputs are timed: one where capacity is ample, and one
//! where it is oversubscribed, so that placement needs several passes (see `placement.rs`).
//! Both wall-clock time and the thread's CPU time are reported: on a shared machine the wall
//! clock also counts time spent waiting for a CPU, while CPU time is the scheduler's own
//! cost. Run with `cargo bench -p scheduler --bench placement`.

// A benchmark measures wall-clock time; the clock ban in clippy.toml is for the scheduler itself.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use model::{
    CloneOptions, ClusterConfig, ColocationConstraint, Constraint, Group, GroupId,
    LocationConstraint, NodeConfig, NodeHealth, NodeId, ObservedState, OrderConstraint, OrderKind,
    Resource, ResourceId, ResourceOptions, ResourceState, ResourceStatus, SchedulerInput,
};

const NODE_COUNT: u64 = 100;
const RESOURCE_COUNT: usize = 10_000;
const RUN_COUNT: usize = 30;

fn resource(id: String, clone: bool) -> Resource {
    Resource {
        id: ResourceId(id),
        type_name: "process".to_owned(),
        params: BTreeMap::new(),
        options: ResourceOptions::default(),
        unique: !clone,
        clone: clone.then(CloneOptions::default),
        utilization: BTreeMap::from([("memory".to_owned(), 10)]),
    }
}

fn input(memory_capacity: u64) -> SchedulerInput {
    let mut config = ClusterConfig::default();
    let mut observed = ObservedState::default();
    for id in 1..=NODE_COUNT {
        let capacity = BTreeMap::from([("memory".to_owned(), memory_capacity)]);
        let node = NodeConfig {
            id: NodeId(id),
            standby: id == 7,
            maintenance: false,
            capacity,
        };
        config.nodes.insert(NodeId(id), node);
        let health = if id == 3 {
            NodeHealth::Down
        } else {
            NodeHealth::Online
        };
        observed.node_health.insert(NodeId(id), health);
    }
    for position in 0..RESOURCE_COUNT {
        let resource = resource(format!("r{position:05}"), position % 1000 == 0);
        // A quarter of the resources already run somewhere, some on the down node.
        if position % 4 == 0 && resource.clone.is_none() {
            let node = NodeId(position as u64 % NODE_COUNT + 1);
            let status = ResourceStatus {
                state: ResourceState::Running,
                ..Default::default()
            };
            observed
                .resources
                .insert(resource.id.clone(), BTreeMap::from([(node, status)]));
        }
        config.resources.insert(resource.id.clone(), resource);
    }
    add_structure(&mut config);
    SchedulerInput {
        config,
        observed,
        now: 1_000,
    }
}

/// Groups of three, and constraints on a tenth of the resources.
fn add_structure(config: &mut ClusterConfig) {
    let id = |position: usize| ResourceId(format!("r{position:05}"));
    for group in 0..500 {
        let base = 1 + group * 3;
        if (base..base + 3).any(|position| position % 1000 == 0) {
            continue;
        }
        let members = (base..base + 3).map(id).collect();
        let group_id = GroupId(format!("g{group:04}"));
        config.groups.insert(
            group_id.clone(),
            Group {
                id: group_id,
                members,
            },
        );
    }
    for position in (2000..RESOURCE_COUNT).step_by(10) {
        let node = NodeId(position as u64 % NODE_COUNT + 1);
        let location = LocationConstraint {
            resource: id(position),
            node,
            score: 50,
            expires_at: None,
        };
        config.constraints.push(Constraint::Location(location));
        let colocation = ColocationConstraint {
            resource: id(position + 1),
            with: id(position),
            score: -100,
        };
        config.constraints.push(Constraint::Colocation(colocation));
        let order = OrderConstraint {
            first: id(position),
            then: id(position + 2),
            kind: OrderKind::Mandatory,
        };
        config.constraints.push(Constraint::Order(order));
    }
}

fn main() {
    measure("ample capacity", &input(100_000));
    // 98 usable nodes x 1,000 memory cannot hold 10,000 resources x 10 plus the clones.
    measure("oversubscribed capacity", &input(1_000));
}

fn measure(name: &str, input: &SchedulerInput) {
    let mut walls: Vec<Duration> = Vec::with_capacity(RUN_COUNT);
    let mut cpus: Vec<Duration> = Vec::with_capacity(RUN_COUNT);
    let mut action_count = 0;
    for _ in 0..RUN_COUNT {
        let (started, cpu_started) = (Instant::now(), thread_cpu_time());
        let plan = scheduler::schedule(input);
        walls.push(started.elapsed());
        cpus.push(thread_cpu_time() - cpu_started);
        action_count = plan.actions.len();
    }
    println!(
        "{name}: {RESOURCE_COUNT} resources, {NODE_COUNT} nodes, {RUN_COUNT} runs, \
         {action_count} actions: wall {}; thread CPU {}",
        summary(&mut walls),
        summary(&mut cpus),
    );
}

fn summary(durations: &mut [Duration]) -> String {
    durations.sort();
    let count = durations.len();
    let millis = |duration: Duration| duration.as_secs_f64() * 1e3;
    format!(
        "median {:.1} ms, p99 {:.1} ms, min {:.1} ms, max {:.1} ms",
        millis(durations[count / 2]),
        millis(durations[(count * 99).div_ceil(100) - 1]),
        millis(durations[0]),
        millis(durations[count - 1]),
    )
}

/// CPU time used by this thread so far, from the kernel's scheduler statistics (the first
/// field of `/proc/thread-self/schedstat` is nanoseconds spent running).
fn thread_cpu_time() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("Linux exposes /proc/thread-self/schedstat");
    let nanos: u64 = text
        .split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .expect("schedstat starts with the running time in nanoseconds");
    Duration::from_nanos(nanos)
}
