//! What the runtime keeps on disk so that a restarted agent knows what it may have left
//! running: one assignment record per resource state directory, and the lease's end.
//!
//! A record is written before every start and removed after every successful stop, so
//! the records found at startup are exactly the resources that may still run. Files are
//! written to a temporary name and renamed; they are not fsynced, because a crash of the
//! machine also ends every process they describe.

use crate::limits::{INSTANCE_COUNT_MAX, RECORD_BYTES_MAX};
use crate::types::Assignment;
use model::{Millis, ResourceId};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The file, in a resource's state directory, naming the grant it was last started under.
const ASSIGNMENT_FILE: &str = "executor-assignment.json";

/// The file, in the state root, holding the end of the last lease received.
const LEASE_FILE: &str = "executor-lease.json";

/// The version of both files' format, so a later version can still read them.
const FORMAT_V1: u32 = 1;

#[derive(Serialize, Deserialize)]
struct AssignmentFile {
    format: u32,
    assignment: Assignment,
}

#[derive(Serialize, Deserialize)]
struct LeaseFile {
    format: u32,
    valid_until: Millis,
}

/// The state directory of `resource`: `state_root/<id>`. An id that is not one plain path
/// component (empty, `.`, `..`, or with a slash) is refused, so it cannot reach outside.
pub(crate) fn state_dir(state_root: &Path, resource: &ResourceId) -> Result<PathBuf, String> {
    let mut components = Path::new(&resource.0).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(name)), None) if name == resource.0.as_str() => {
            Ok(state_root.join(name))
        }
        _ => Err(format!(
            "resource id {:?} cannot name a state directory",
            resource.0
        )),
    }
}

/// Records that `assignment` is about to start in `dir`.
pub(crate) fn write_assignment(dir: &Path, assignment: &Assignment) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = AssignmentFile {
        format: FORMAT_V1,
        assignment: assignment.clone(),
    };
    write_json(&dir.join(ASSIGNMENT_FILE), &file)
}

/// Forgets the record of a resource that stopped cleanly.
pub(crate) fn remove_assignment(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(ASSIGNMENT_FILE)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Every assignment recorded under `state_root`, by resource id, at most
/// [`INSTANCE_COUNT_MAX`]. Unreadable records are logged and skipped.
pub(crate) fn scan(state_root: &Path) -> Vec<Assignment> {
    let Ok(entries) = std::fs::read_dir(state_root) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path().join(ASSIGNMENT_FILE);
        if !path.is_file() {
            continue;
        }
        match read_json::<AssignmentFile>(&path) {
            Ok(file) if file.format == FORMAT_V1 => found.push(file.assignment),
            Ok(file) => {
                let path = path.display();
                tracing::warn!(path = %path, format = file.format, "Unknown record format");
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %error, "Unreadable record");
            }
        }
    }
    found.sort_by(|a, b| a.resource.id.cmp(&b.resource.id));
    found.truncate(INSTANCE_COUNT_MAX);
    found
}

/// Remembers the lease's end, so a restarted agent does not fence what is still covered.
pub(crate) fn write_lease(state_root: &Path, valid_until: Millis) -> std::io::Result<()> {
    std::fs::create_dir_all(state_root)?;
    let file = LeaseFile {
        format: FORMAT_V1,
        valid_until,
    };
    write_json(&state_root.join(LEASE_FILE), &file)
}

/// The lease's end recorded by an earlier life, if any.
pub(crate) fn read_lease(state_root: &Path) -> Option<Millis> {
    let path = state_root.join(LEASE_FILE);
    match read_json::<LeaseFile>(&path) {
        Ok(file) if file.format == FORMAT_V1 => Some(file.valid_until),
        _ => None,
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> std::io::Result<T> {
    let mut text = Vec::new();
    std::fs::File::open(path)?
        .take(RECORD_BYTES_MAX)
        .read_to_end(&mut text)?;
    serde_json::from_slice(&text).map_err(std::io::Error::other)
}
