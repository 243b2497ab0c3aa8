//! What the runtime keeps on disk so that a restarted agent knows what it may have left
//! running: one assignment record per resource state directory, and the lease's end.
//!
//! The lease's end is on the boot clock, with the kernel's boot id: a restarted agent (and
//! the lease watchdogs, which read the same file) still honour it, a wall-clock step does
//! not move it, and after a reboot it is ignored.
//!
//! A record is written before every start and replaced by a stop record after every
//! successful stop, so the start records found at startup are exactly the resources that
//! may still run, and the stop records the grants that are spent here. Files are written
//! to a temporary name and renamed. Start records are not fsynced, because a crash of the
//! machine also ends every process they describe; stop records are, because the master
//! may act on the stop (start the resource elsewhere) as soon as it is reported.

use crate::clock::Now;
use crate::limits::{INSTANCE_COUNT_MAX, RECORD_BYTES_MAX};
use crate::types::Assignment;
use model::{BootMs, ResourceId};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The file, in a resource's state directory, naming the grant it was last started under.
const ASSIGNMENT_FILE: &str = "executor-assignment.json";

/// The file, in the state root, holding the end of the last lease received. The lease
/// watchdogs (`resource_agents`) parse it too: `"boot_id":"<id>"` and
/// `"valid_until_boot_ms":<ms>`.
const LEASE_FILE: &str = "executor-lease.json";

/// The kernel's id of this boot: a boot-clock time means something only in the same boot.
const BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";

/// The version of the assignment file's format, so a later version can still read them.
/// Version 1 of the lease file held `valid_until` on the wall clock.
const FORMAT_V1: u32 = 1;

/// The assignment file of a clean stop: version 1 plus `stopped`. Records of starts stay
/// version 1, so an older agent still finds what may run and skips only stop records
/// (it then forgets that their grants are spent, as it always did).
const STOPPED_FORMAT_V2: u32 = 2;

/// The lease file's format: the lease's end on the boot clock, with the boot id.
const LEASE_FORMAT_V2: u32 = 2;

#[derive(Serialize, Deserialize)]
struct AssignmentFile {
    format: u32,
    assignment: Assignment,
    /// Format 2: the resource was cleanly stopped under the grant (absent in format 1,
    /// whose records all mean "may run").
    #[serde(default)]
    stopped: bool,
}

#[derive(Serialize, Deserialize)]
struct LeaseFile {
    format: u32,
    boot_id: String,
    valid_until_boot_ms: u64,
}

/// Any version of the lease file, to read what an earlier version wrote.
#[derive(Deserialize)]
struct AnyLeaseFile {
    format: u32,
    #[serde(default)]
    boot_id: Option<String>,
    #[serde(default)]
    valid_until_boot_ms: Option<u64>,
    /// Version 1: wall-clock milliseconds since the epoch.
    #[serde(default)]
    valid_until: Option<u64>,
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
        stopped: false,
    };
    write_json(&dir.join(ASSIGNMENT_FILE), &file)
}

/// Records that the resource of `dir` stopped cleanly under `assignment`: nothing of it
/// runs, and its grant is spent (see [`crate::Event::Spent`]). Synced before it is
/// renamed into place, and written before the stop is reported, so no restart, not even
/// of the machine, forgets a stop the master may already have acted on.
pub(crate) fn write_stopped(dir: &Path, assignment: &Assignment) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = AssignmentFile {
        format: STOPPED_FORMAT_V2,
        assignment: assignment.clone(),
        stopped: true,
    };
    let path = dir.join(ASSIGNMENT_FILE);
    let text = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("json.tmp");
    let mut out = std::fs::File::create(&temporary)?;
    std::io::Write::write_all(&mut out, &text)?;
    out.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// What the state directories under `state_root` record, by resource id.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Resources that may still run: started and not cleanly stopped since.
    pub(crate) found: Vec<Assignment>,
    /// Grants a resource was cleanly stopped under.
    pub(crate) spent: Vec<Assignment>,
}

/// Every record under `state_root`, at most [`INSTANCE_COUNT_MAX`] of each kind.
/// Unreadable records are logged and skipped.
pub(crate) fn scan(state_root: &Path) -> Scan {
    let mut scan = Scan::default();
    let Ok(entries) = std::fs::read_dir(state_root) else {
        return scan;
    };
    for entry in entries.flatten() {
        let path = entry.path().join(ASSIGNMENT_FILE);
        if !path.is_file() {
            continue;
        }
        match read_json::<AssignmentFile>(&path) {
            Ok(file) if file.format == FORMAT_V1 => scan.found.push(file.assignment),
            Ok(file) if file.format == STOPPED_FORMAT_V2 && file.stopped => {
                scan.spent.push(file.assignment);
            }
            Ok(file) if file.format == STOPPED_FORMAT_V2 => scan.found.push(file.assignment),
            Ok(file) => {
                let path = path.display();
                tracing::warn!(path = %path, format = file.format, "Unknown record format");
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), error = %error, "Unreadable record");
            }
        }
    }
    for list in [&mut scan.found, &mut scan.spent] {
        list.sort_by(|a, b| a.resource.id.cmp(&b.resource.id));
        list.truncate(INSTANCE_COUNT_MAX);
    }
    scan
}

/// Remembers the lease's end, so a restarted agent does not fence what is still covered,
/// and so the lease watchdogs know when to fence.
pub(crate) fn write_lease(state_root: &Path, valid_until: BootMs) -> std::io::Result<()> {
    std::fs::create_dir_all(state_root)?;
    let file = LeaseFile {
        format: LEASE_FORMAT_V2,
        boot_id: boot_id()?,
        valid_until_boot_ms: valid_until.0,
    };
    write_json(&state_root.join(LEASE_FILE), &file)
}

/// The lease's end recorded by an earlier life of this boot, if any. A lease of another
/// boot is void: its file is removed, so no watchdog reads it. A version-1 file (wall
/// clock, from before an upgrade) is carried over to the boot clock at `now`.
pub(crate) fn read_lease(state_root: &Path, now: Now) -> Option<BootMs> {
    let path = state_root.join(LEASE_FILE);
    let file = read_json::<AnyLeaseFile>(&path).ok()?;
    let lease = match file {
        AnyLeaseFile {
            format: LEASE_FORMAT_V2,
            boot_id: Some(recorded),
            valid_until_boot_ms: Some(valid_until),
            ..
        } => boot_id()
            .is_ok_and(|id| id == recorded)
            .then_some(BootMs(valid_until)),
        AnyLeaseFile {
            format: FORMAT_V1,
            valid_until: Some(valid_until),
            ..
        } => {
            let left = valid_until.saturating_sub(now.wall);
            Some(
                now.boot
                    .saturating_add(std::time::Duration::from_millis(left)),
            )
        }
        _ => None,
    };
    if lease.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    lease
}

/// The kernel's id of this boot, read once: it cannot change while a process lives, and the
/// lease is recorded with it ten times a second.
fn boot_id() -> std::io::Result<String> {
    static BOOT_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(id) = BOOT_ID.get() {
        return Ok(id.clone());
    }
    let id = std::fs::read_to_string(BOOT_ID_FILE)?.trim().to_owned();
    Ok(BOOT_ID.get_or_init(|| id).clone())
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
