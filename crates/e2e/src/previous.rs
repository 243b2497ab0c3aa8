//! The previous release of encluster, built from git, for the rolling-upgrade test.
//!
//! The release is named in `crates/e2e/previous-release` by its tag and its commit. The
//! tag is looked up first; a clone without tags falls back to the commit. The release is
//! checked out in a git worktree (`git worktree add --detach`) and built with `cargo build
//! -p encluster` (debug, not incremental, no debug info) into its own target directory,
//! both under `<target>/previous-release/<tag>/`, so the build is reused by later runs and
//! never mixes with the current build's artifacts (cargo names a workspace crate's
//! artifacts without its path). A file there records the commit the binary was built from.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// The previous release: its tag and commit, from `crates/e2e/previous-release`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// Its tag (`v0.11.0`).
    pub tag: String,
    /// Its full commit id.
    pub commit: String,
}

/// The release that `crates/e2e/previous-release` names.
pub fn previous_release() -> Release {
    let text = include_str!("../previous-release");
    let line = text
        .lines()
        .find(|line| !line.starts_with('#') && !line.trim().is_empty())
        .expect("crates/e2e/previous-release names a release");
    let mut words = line.split_whitespace();
    let (Some(tag), Some(commit)) = (words.next(), words.next()) else {
        panic!("crates/e2e/previous-release: expected `<tag> <commit>`, found {line:?}");
    };
    Release {
        tag: tag.to_string(),
        commit: commit.to_string(),
    }
}

/// The repository this crate is part of.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn git(args: &[&str]) -> anyhow::Result<std::process::Output> {
    Command::new("git")
        .arg("-C")
        .arg(repository())
        .args(args)
        .output()
        .context("cannot run git")
}

/// The commit to build: the tag's, else the recorded commit if the clone has it.
fn resolve(release: &Release) -> Option<String> {
    let tag = format!("refs/tags/{}^{{commit}}", release.tag);
    let commit = format!("{}^{{commit}}", release.commit);
    for name in [tag, commit] {
        let output = git(&["rev-parse", "--verify", "--quiet", &name]).ok()?;
        if output.status.success() {
            return Some(String::from_utf8_lossy(&output.stdout).trim().to_string());
        }
    }
    None
}

/// The previous release's `encluster` binary, built on first use under `target_dir`.
/// `Ok(None)` when the repository has neither its tag nor its commit (a shallow clone)
/// and `CI` is not set; under CI (`CI` set to anything) that is an error, so CI never
/// skips the test.
pub fn previous_binary(target_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let release = previous_release();
    let Some(commit) = resolve(&release) else {
        let problem = format!(
            "the repository has neither the tag {} nor the commit {} of the previous release: \
             fetch them (`git fetch --tags`, or a clone that is not shallow)",
            release.tag, release.commit
        );
        if std::env::var_os("CI").is_some_and(|ci| !ci.is_empty()) {
            bail!("{problem}");
        }
        eprintln!("skipping the upgrade test: {problem}");
        return Ok(None);
    };
    let dir = target_dir.join("previous-release").join(&release.tag);
    let binary = dir.join("target/debug/encluster");
    let stamp = dir.join("built-from");
    if binary.exists() && std::fs::read_to_string(&stamp).is_ok_and(|built| built == commit) {
        return Ok(Some(binary));
    }
    std::fs::create_dir_all(&dir)?;
    let source = dir.join("src");
    check_out(&source, &commit)?;
    let started = Instant::now();
    build(&source, &dir.join("target"))?;
    eprintln!(
        "built the previous release {} ({}) in {:.0?}",
        release.tag,
        &commit[..12],
        started.elapsed()
    );
    std::fs::write(&stamp, &commit)?;
    Ok(Some(binary))
}

/// A detached worktree of `commit` at `source`, made again if it holds anything else.
fn check_out(source: &Path, commit: &str) -> anyhow::Result<()> {
    let head = Command::new("git")
        .arg("-C")
        .arg(source)
        .args(["rev-parse", "HEAD"])
        .output();
    if head.is_ok_and(|out| {
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == commit
    }) {
        return Ok(());
    }
    if source.exists() {
        std::fs::remove_dir_all(source)?;
    }
    // Forget worktrees whose directories are gone (a cleaned target directory).
    git(&["worktree", "prune"])?;
    let source_text = source.to_string_lossy();
    let added = git(&[
        "worktree",
        "add",
        "--detach",
        "--force",
        &source_text,
        commit,
    ])?;
    if !added.status.success() {
        bail!(
            "git worktree add {source_text} {commit} failed: {}",
            String::from_utf8_lossy(&added.stderr)
        );
    }
    Ok(())
}

/// `cargo build --locked -p encluster` in `source` into `target`: the debug profile
/// without debug info or incremental state, which only cost time and disk here.
fn build(source: &Path, target: &Path) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(source)
        .args(["build", "--locked", "-p", "encluster"])
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("RUSTFLAGS")
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!(
            "building the previous release in {} failed",
            source.display()
        );
    }
    Ok(())
}
