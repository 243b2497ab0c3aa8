//! Pacemaker's clone notifications: the environment a clone's `notify` action gets before
//! and after a start, stop, promotion or demotion of one of its instances (Pacemaker's
//! `pcmk__add_notif_env`, the `OCF_RESKEY_CRM_meta_notify_*` variables that agents such as
//! `ocf:heartbeat:mysql` or `pgsql` read). Lists are space-separated, an empty one is a
//! single space, as Pacemaker writes it.

#[cfg(test)]
mod tests;

/// Before or after the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyKind {
    /// Before: the operation has not run yet.
    Pre,
    /// After: the operation succeeded.
    Post,
}

/// What happens to an instance of the clone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyOperation {
    Start,
    Stop,
    Promote,
    Demote,
}

impl NotifyKind {
    /// Pacemaker's word.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyKind::Pre => "pre",
            NotifyKind::Post => "post",
        }
    }
}

impl NotifyOperation {
    /// Pacemaker's word.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyOperation::Start => "start",
            NotifyOperation::Stop => "stop",
            NotifyOperation::Promote => "promote",
            NotifyOperation::Demote => "demote",
        }
    }
}

/// One instance of the clone: its name (`<resource>:<node id>`, as Pacemaker names clone
/// instances `<resource>:<n>`) and its node's name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotifyInstance {
    pub instance: String,
    pub node: String,
}

/// One notification, as every instance of the clone gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloneNotice {
    pub kind: NotifyKind,
    pub operation: NotifyOperation,
    /// The instances the operation acts on.
    pub acting: Vec<NotifyInstance>,
    /// The instances running (before the operation, for `pre`; after it, for `post`).
    pub active: Vec<NotifyInstance>,
    /// The instances known but not running.
    pub inactive: Vec<NotifyInstance>,
    /// The running instances that are promoted.
    pub promoted: Vec<NotifyInstance>,
    /// The running instances that are not promoted.
    pub unpromoted: Vec<NotifyInstance>,
    /// Every node of the cluster, by name.
    pub all_nodes: Vec<String>,
}

/// The variables of `notice`, each an `OCF_RESKEY_CRM_meta_notify*` name with its value.
pub fn notify_environment(notice: &CloneNotice) -> Vec<(String, String)> {
    let mut env = vec![("OCF_RESKEY_CRM_meta_notify".to_owned(), "true".to_owned())];
    let mut set = |name: &str, value: String| {
        env.push((format!("OCF_RESKEY_CRM_meta_notify_{name}"), value));
    };
    set("type", notice.kind.as_str().to_owned());
    set("operation", notice.operation.as_str().to_owned());
    set("key_type", notice.kind.as_str().to_owned());
    set("key_operation", notice.operation.as_str().to_owned());
    let none: &[NotifyInstance] = &[];
    let lists: [(&str, &[NotifyInstance]); 10] = [
        ("active", &notice.active),
        ("inactive", &notice.inactive),
        (
            "start",
            acting(notice, NotifyOperation::Start).unwrap_or(none),
        ),
        (
            "stop",
            acting(notice, NotifyOperation::Stop).unwrap_or(none),
        ),
        (
            "promote",
            acting(notice, NotifyOperation::Promote).unwrap_or(none),
        ),
        (
            "demote",
            acting(notice, NotifyOperation::Demote).unwrap_or(none),
        ),
        ("promoted", &notice.promoted),
        ("master", &notice.promoted),
        ("unpromoted", &notice.unpromoted),
        ("slave", &notice.unpromoted),
    ];
    for (name, instances) in lists {
        set(
            &format!("{name}_resource"),
            words(instances.iter().map(|i| &i.instance)),
        );
        set(
            &format!("{name}_uname"),
            words(instances.iter().map(|i| &i.node)),
        );
    }
    // Every node may run an instance of a clone here: available and all are the nodes.
    let nodes = words(notice.all_nodes.iter());
    for name in ["available_uname", "all_uname", "all_hosts"] {
        set(name, nodes.clone());
    }
    env
}

fn acting(notice: &CloneNotice, operation: NotifyOperation) -> Option<&[NotifyInstance]> {
    (notice.operation == operation).then_some(notice.acting.as_slice())
}

/// Space-separated words; a single space for none, as Pacemaker writes an empty list.
fn words<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let joined: Vec<&str> = items.map(String::as_str).collect();
    if joined.is_empty() {
        " ".to_owned()
    } else {
        joined.join(" ")
    }
}
