//! Records the git commit the binary is built from, for `encluster --version`.
//!
//! Reads `git rev-parse --short=12 HEAD` when git and a repository are there, and says
//! `unknown` otherwise (a source tarball, a build without git): it never fails the build.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|commit| !commit.is_empty() && commit.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ENCLUSTER_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves; the paths may not exist outside a git checkout, which is fine.
    for path in git_paths() {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// HEAD and the ref it points at, in the repository's git directory (a worktree's too).
fn git_paths() -> Vec<String> {
    let git_dir = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned());
    let Some(git_dir) = git_dir else {
        return Vec::new();
    };
    let head = format!("{git_dir}/HEAD");
    let mut paths = vec![head.clone()];
    if let Ok(text) = std::fs::read_to_string(&head)
        && let Some(reference) = text.trim().strip_prefix("ref: ")
    {
        paths.push(format!("{git_dir}/{reference}"));
        let common = Command::new("git")
            .args(["rev-parse", "--git-common-dir"])
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .map(|text| text.trim().to_owned());
        if let Some(common) = common {
            paths.push(format!("{common}/{reference}"));
            paths.push(format!("{common}/packed-refs"));
        }
    }
    paths
}
