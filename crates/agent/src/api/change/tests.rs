//! Tests of the update answer: restart, reload, options or not running, in plain words.

use super::describe;
use cmdb::ResourceDb;
use model::{
    Group, GroupId, NodeId, ParamKind, ParamSchema, ParamSpec, Resource, ResourceId, ResourceState,
    ResourceStatus,
};

fn resource(id: &str, args: &str) -> Resource {
    Resource {
        id: ResourceId(id.into()),
        type_name: "process".into(),
        params: [("args".to_owned(), args.to_owned())].into(),
        options: Default::default(),
        unique: true,
        clone: None,
        utilization: Default::default(),
    }
}

fn running_on(db: &mut ResourceDb, id: &str, node: u64) {
    let status = ResourceStatus {
        state: ResourceState::Running,
        ..Default::default()
    };
    db.status
        .entry(ResourceId(id.into()))
        .or_default()
        .insert(NodeId(node), status);
}

fn cluster() -> ResourceDb {
    let mut db = ResourceDb::default();
    for id in ["p1", "web", "tail"] {
        db.resources
            .insert(ResourceId(id.into()), resource(id, "1000"));
    }
    db.groups.insert(
        GroupId("g".into()),
        Group {
            id: GroupId("g".into()),
            members: vec![
                ResourceId("p1".into()),
                ResourceId("web".into()),
                ResourceId("tail".into()),
            ],
        },
    );
    running_on(&mut db, "p1", 2);
    running_on(&mut db, "web", 2);
    db
}

#[test]
fn a_parameter_change_of_a_running_group_member_restarts_it_and_the_members_after_it() {
    let change = describe(&cluster(), None, &resource("p1", "2000"), true);
    assert_eq!(change.effect, "restart");
    assert_eq!(change.nodes, [2]);
    assert_eq!(change.group_restarts, ["web"]);
    assert_eq!(
        change.summary,
        "will restart p1 on node 2 (and group members web after it)"
    );
    let dry = describe(&cluster(), None, &resource("web", "2000"), false);
    assert_eq!(dry.summary, "would restart web on node 2");
    assert!(!dry.applied);
}

#[test]
fn a_reloadable_change_reloads_and_a_stopped_resource_waits_for_its_next_start() {
    let schema = ParamSchema::new(vec![
        ParamSpec::new("args", ParamKind::String, "args").reloadable(),
    ])
    .with_reload("reload");
    let change = describe(&cluster(), Some(&schema), &resource("p1", "2000"), true);
    assert_eq!(
        (change.effect.as_str(), change.summary.as_str()),
        ("reload", "will reload p1 on node 2")
    );
    let stopped = describe(&cluster(), None, &resource("tail", "2000"), true);
    assert_eq!(stopped.effect, "not_running");
    assert_eq!(
        stopped.summary,
        "tail is not running: the change takes effect at its next start"
    );
    let same = describe(&cluster(), None, &resource("p1", "1000"), true);
    assert_eq!(same.effect, "none");
}
