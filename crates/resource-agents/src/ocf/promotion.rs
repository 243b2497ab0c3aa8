//! What an OCF agent of a promotable resource needs besides the usual environment:
//! encluster's `crm_attribute` (`crm_attribute.sh`) in `HA_SBIN_DIR`, so the agent's
//! `crm_attribute --promotion -v <score>` and `-D` calls store this instance's promotion
//! score in `$HA_RSCTMP/promotion-score` ([`promotion_score`] reads it back), `HA_VARRUN`
//! in the resource's state directory (Stateful keeps its role there; nodes sharing a host
//! must not share it), and the variables of Pacemaker's notifications.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::operation::OperationRequest;

/// The script answering `crm_attribute`.
const CRM_ATTRIBUTE: &str = include_str!("crm_attribute.sh");
/// Where the instance's promotion score is kept, in its state directory.
pub(crate) const SCORE_FILE: &str = "promotion-score";

/// Installs `crm_attribute` under `state_dir/sbin` (once, or again if it changed) and
/// points `HA_SBIN_DIR` and `HA_VARRUN` at it and at `state_dir`.
pub(crate) fn environment(
    command: &mut tokio::process::Command,
    state_dir: &Path,
) -> Result<(), String> {
    let sbin = state_dir.join("sbin");
    let script = sbin.join("crm_attribute");
    let current = std::fs::read_to_string(&script).ok();
    if current.as_deref() != Some(CRM_ATTRIBUTE) {
        let install = || -> std::io::Result<()> {
            std::fs::create_dir_all(&sbin)?;
            let temporary = sbin.join("crm_attribute.tmp");
            std::fs::write(&temporary, CRM_ATTRIBUTE)?;
            std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755))?;
            std::fs::rename(&temporary, &script)
        };
        install().map_err(|error| format!("cannot install {}: {error}", script.display()))?;
    }
    command
        .env("HA_SBIN_DIR", &sbin)
        .env("HA_VARRUN", state_dir);
    Ok(())
}

/// A notification (`notify`) of `operation` (`promote`, `demote`, `start`, `stop`) of the
/// kind `kind` (`pre` or `post`) about this very instance, with Pacemaker's
/// `OCF_RESKEY_CRM_meta_notify_*` variables (passed as parameters, which become
/// `OCF_RESKEY_` variables).
pub(crate) fn notify_request(
    request: &OperationRequest,
    kind: &str,
    operation: &str,
) -> OperationRequest {
    let mut notify = request.clone();
    let instance = request.resource.0.clone();
    let node = request.node_name.clone();
    let mut set = |name: &str, value: String| {
        notify
            .params
            .insert(format!("CRM_meta_notify_{name}"), value);
    };
    set("type", kind.to_owned());
    set("operation", operation.to_owned());
    set(&format!("{operation}_resource"), instance);
    set(&format!("{operation}_uname"), node);
    notify
        .params
        .insert("CRM_meta_notify".into(), "true".into());
    notify
}

/// The promotion score the instance whose state directory is `state_dir` last set with
/// `crm_attribute --promotion -v`, `None` if it has none (never set, or `-D`).
/// `INFINITY` counts as [`model::SCORE_INFINITY`]; an unreadable score as none.
pub fn promotion_score(state_dir: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(state_dir.join(SCORE_FILE)).ok()?;
    match text.trim() {
        "INFINITY" | "+INFINITY" => Some(model::SCORE_INFINITY),
        "-INFINITY" => Some(-model::SCORE_INFINITY),
        number => number
            .parse::<i64>()
            .ok()
            .map(|score| score.clamp(-model::SCORE_INFINITY, model::SCORE_INFINITY)),
    }
}

/// Stores the promotion score of the instance whose state directory is `state_dir`, as
/// `crm_attribute --promotion -v` does (`None` removes it, as `-D` does), atomically: for
/// instances that set it through the application protocol.
pub fn set_promotion_score(state_dir: &Path, score: Option<i64>) -> std::io::Result<()> {
    let file = state_dir.join(SCORE_FILE);
    let Some(score) = score else {
        return match std::fs::remove_file(&file) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        };
    };
    let temporary = state_dir.join(format!("{SCORE_FILE}.tmp"));
    std::fs::write(&temporary, format!("{score}\n"))?;
    std::fs::rename(&temporary, &file)
}
