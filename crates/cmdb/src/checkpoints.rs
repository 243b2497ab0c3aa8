//! Application checkpoints: small blobs an instance stores so the next instance of its
//! resource, wherever it starts, finds them (the application protocol's `checkpoint_put`).
//!
//! A write is fenced by the writer's fencing token: it is accepted only while the node
//! that proposes it holds the resource's grant under exactly that token, and never under a
//! token older than the one the stored checkpoints were written with. A new grant is
//! written to the log after the old instance is known stopped (or its node's lease has
//! ended), so every accepted write precedes it, and any replica that has applied a grant
//! has also applied every checkpoint written before: the next instance reads them from its
//! own node's replica.

use std::collections::BTreeMap;

use model::{Millis, NodeId, ResourceId};
use serde::{Deserialize, Serialize};

use crate::command::CommandResult;
use crate::limits::{CHECKPOINT_BYTES_MAX, CHECKPOINT_NAME_BYTES_MAX, CHECKPOINT_TOTAL_BYTES_MAX};
use crate::resources::ResourceDb;

/// One stored checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The contents.
    pub data: Vec<u8>,
    /// The fencing token of the instance that wrote it.
    pub fencing_token: u64,
    /// The node that instance ran on.
    pub node: NodeId,
    /// When it was written (the proposing node's clock, for people).
    pub at_ms: Millis,
}

/// Every resource's checkpoints, by name.
pub type Checkpoints = BTreeMap<ResourceId, BTreeMap<String, Checkpoint>>;

/// One checkpoint write, as proposed by an agent for one of its instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CheckpointWrite {
    pub(crate) resource: ResourceId,
    pub(crate) node: NodeId,
    pub(crate) fencing_token: u64,
    pub(crate) name: String,
    pub(crate) data: Vec<u8>,
    pub(crate) at_ms: Millis,
}

/// Applies a checkpoint write, or refuses it with the reason (deterministically).
pub(crate) fn put(
    checkpoints: &mut Checkpoints,
    resources: &ResourceDb,
    write: CheckpointWrite,
) -> CommandResult {
    if let Err(reason) = check(checkpoints, resources, &write) {
        return CommandResult::Rejected(reason);
    }
    let stored = checkpoints.entry(write.resource).or_default();
    stored.insert(
        write.name,
        Checkpoint {
            data: write.data,
            fencing_token: write.fencing_token,
            node: write.node,
            at_ms: write.at_ms,
        },
    );
    CommandResult::Ok
}

fn check(
    checkpoints: &Checkpoints,
    resources: &ResourceDb,
    write: &CheckpointWrite,
) -> Result<(), String> {
    let CheckpointWrite {
        resource,
        node,
        fencing_token,
        name,
        data,
        ..
    } = write;
    check_shape(name, data)?;
    if !resources.resources.contains_key(resource) {
        return Err(format!("resource {resource} does not exist"));
    }
    let granted = resources
        .assignments
        .get(node)
        .and_then(|grants| grants.get(resource));
    if granted != Some(fencing_token) {
        let now = match granted {
            Some(token) => format!("node {node} holds it under token {token}"),
            None => format!("node {node} no longer holds it"),
        };
        return Err(format!(
            "stale fencing token {fencing_token} for {resource}: {now}; a newer instance \
             may run elsewhere, so this instance must stop serving"
        ));
    }
    let stored = checkpoints.get(resource);
    let newest = stored
        .into_iter()
        .flat_map(BTreeMap::values)
        .map(|checkpoint| checkpoint.fencing_token)
        .max();
    if let Some(newest) = newest
        && newest > *fencing_token
    {
        return Err(format!(
            "stale fencing token {fencing_token} for {resource}: its checkpoints were \
             written under token {newest}"
        ));
    }
    let others: usize = stored
        .into_iter()
        .flat_map(BTreeMap::iter)
        .filter(|(other, _)| *other != name)
        .map(|(_, checkpoint)| checkpoint.data.len())
        .sum();
    if others + data.len() > CHECKPOINT_TOTAL_BYTES_MAX {
        return Err(format!(
            "checkpoints of {resource} would hold {} bytes, above the limit of \
             {CHECKPOINT_TOTAL_BYTES_MAX} per resource: overwrite or shrink one",
            others + data.len()
        ));
    }
    Ok(())
}

/// The name's characters and length, and the size of one checkpoint.
fn check_shape(name: &str, data: &[u8]) -> Result<(), String> {
    let valid_name = !name.is_empty()
        && name.len() <= CHECKPOINT_NAME_BYTES_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(format!(
            "checkpoint name {name:?} is not valid: use 1 to {CHECKPOINT_NAME_BYTES_MAX} \
             letters, digits, '-', '_' or '.'"
        ));
    }
    if data.len() > CHECKPOINT_BYTES_MAX {
        return Err(format!(
            "checkpoint {name:?} has {} bytes, above the limit of {CHECKPOINT_BYTES_MAX}",
            data.len()
        ));
    }
    Ok(())
}

/// Forgets the checkpoints of resources that are no longer configured.
pub(crate) fn retain_configured(checkpoints: &mut Checkpoints, resources: &ResourceDb) {
    checkpoints.retain(|resource, _| resources.resources.contains_key(resource));
}
