//! The README works as written: every shell block of `README.md` runs, in order, in one
//! shell, against the real local cluster the README itself starts (`init --local`, then
//! one `encluster agent` per node in the background), and must succeed.
//!
//! Method: the README's fenced blocks are read in order. A `sh` block runs unless the line
//! before it is `<!-- readme-test: skip (reason) -->` (a reason is required, so nothing is
//! skipped silently); a block of any language whose marker is
//! `<!-- readme-test: file NAME -->` is written to NAME in the shell's working directory
//! first (a file a later command reads). An unknown marker fails the test. The blocks are
//! joined into one `bash -e` script, so `export`s and background agents carry over from one
//! block to the next, and the first failing command fails the test, naming its block.
//!
//! Documented substitutions, the only differences from what a reader types:
//! * `encluster` is this build's binary (`ENCLUSTER_BIN` or `target/<profile>/encluster`),
//!   first on `PATH`; `cargo run --release --` runs the same binary;
//! * `/tmp/c` is a fresh temporary directory, and `init --local N` gets the
//!   `--base-ip` of an address block of its own, so the test runs beside the other tests
//!   (the README's `127.0.0.11-13` is the default);
//! * a command with `--follow`, which runs until Ctrl-C, is stopped after 3 seconds and
//!   passes if it was still following then (`timeout`'s status 124).
//!
//! When the script ends, every process it started is killed (its process group), and the
//! resources' own lease watchdogs stop what the agents ran.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How long the whole README may take (a debug build on 2 shared cores).
const README_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a `--follow` command runs before it is stopped.
const FOLLOW_SECONDS: u32 = 3;

/// One fenced block of the README and what the test does with it.
#[derive(Debug, PartialEq, Eq)]
enum Block {
    /// A shell block to run.
    Run { line: usize, text: String },
    /// A shell block marked as not runnable here, with the marker's reason.
    Skip { line: usize, reason: String },
    /// A block to write to a file before the next commands run.
    File {
        line: usize,
        name: String,
        text: String,
    },
}

/// The marker on the line before a block, if any: `Ok(None)` when there is none.
fn marker(previous: Option<&str>, line: usize) -> Result<Option<(String, String)>, String> {
    let Some(previous) = previous.map(str::trim) else {
        return Ok(None);
    };
    let Some(body) = previous
        .strip_prefix("<!-- readme-test:")
        .and_then(|rest| rest.strip_suffix("-->"))
    else {
        return Ok(None);
    };
    let body = body.trim();
    let (word, rest) = body.split_once(' ').unwrap_or((body, ""));
    match word {
        "skip" => {
            let reason = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .filter(|r| !r.trim().is_empty());
            match reason {
                Some(reason) => Ok(Some(("skip".into(), reason.trim().into()))),
                None => Err(format!(
                    "README line {line}: a skip marker needs a reason: \
                     <!-- readme-test: skip (why) -->"
                )),
            }
        }
        "file" if !rest.trim().is_empty() && !rest.contains('/') => {
            Ok(Some(("file".into(), rest.trim().into())))
        }
        _ => Err(format!(
            "README line {line}: unknown marker {previous:?}; use \
             <!-- readme-test: skip (why) --> or <!-- readme-test: file NAME -->"
        )),
    }
}

/// The README's blocks in order; an error for a malformed marker or an unclosed block.
fn blocks(readme: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let Some(info) = lines[index].trim_start().strip_prefix("```") else {
            index += 1;
            continue;
        };
        let line = index + 1;
        let start = index + 1;
        let end = (start..lines.len())
            .find(|i| lines[*i].trim_start().starts_with("```"))
            .ok_or_else(|| format!("README line {line}: the block is never closed"))?;
        let text = lines[start..end].join("\n") + "\n";
        let previous = lines[..index].iter().rev().find(|l| !l.trim().is_empty());
        let shell = matches!(info.trim(), "sh" | "bash" | "shell");
        match marker(previous.copied(), line)? {
            Some((kind, reason)) if kind == "skip" => found.push(Block::Skip { line, reason }),
            Some((_, name)) => found.push(Block::File { line, name, text }),
            None if shell => found.push(Block::Run { line, text }),
            None => {}
        }
        index = end + 1;
    }
    Ok(found)
}

/// A README command as the test runs it (see the module's substitutions).
fn substitute(text: &str, dir: &Path, base_ip: &str) -> String {
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut line = line
            .replace("cargo run --release --", "encluster")
            .replace("/tmp/c", &dir.join("c").display().to_string());
        if let Some(at) = line.find("init --local ") {
            let after = &line[at + "init --local ".len()..];
            let count: String = after.chars().take_while(char::is_ascii_digit).collect();
            let from = format!("init --local {count}");
            line = line.replacen(&from, &format!("{from} --base-ip {base_ip}"), 1);
        }
        if line.contains("--follow") {
            let command = line.split(" #").next().unwrap_or(&line).trim().to_string();
            line = format!(
                "timeout {FOLLOW_SECONDS} {command} >/dev/null || [ $? -eq 124 ]  # follows"
            );
        }
        lines.push(line);
    }
    lines.join("\n") + "\n"
}

/// The script that runs the blocks in order, announcing each on standard error.
fn script(blocks: &[Block], dir: &Path, base_ip: &str) -> String {
    let mut script = String::from("set -eo pipefail\n");
    for block in blocks {
        match block {
            Block::Run { line, text } => {
                script.push_str(&format!("echo '>>> README block at line {line}' >&2\n"));
                script.push_str(&substitute(text, dir, base_ip));
            }
            Block::File { line, name, text } => {
                script.push_str(&format!(
                    "echo '>>> README file {name} (line {line})' >&2\n"
                ));
                script.push_str(&format!(
                    "cat > {name} <<'README_TEST_EOF'\n{text}README_TEST_EOF\n"
                ));
            }
            Block::Skip { .. } => {}
        }
    }
    script.push_str("echo '>>> README done' >&2\n");
    script
}

/// Runs `readme.sh` in `work` with `bin` first on `PATH`, in a process group of its own
/// that is killed at the end, with everything the README started in the background; the
/// exit status (`None` past `README_TIMEOUT`) and the script's output.
fn run_script(work: &Path, bin: &Path) -> (Option<ExitStatus>, String, String) {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("bash")
        .arg(work.join("readme.sh"))
        .current_dir(work)
        .env("PATH", path)
        .env_remove("ENCLUSTER_CLI_CONFIG")
        .env_remove("ENCLUSTER_API")
        .env_remove("ENCLUSTER_TOKEN")
        .env_remove("ENCLUSTER_CA")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("run bash");
    let group = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits i32"));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + README_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bash") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    teardown(work, bin);
    // The agents the README started in the background are in the script's process group.
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
    (
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    )
}

/// Stops every resource the README created while its agents still run, so nothing of it
/// outlives the test: the loopback VIP's claim file, above all, which would make the next
/// run's VIP (a new cluster, with smaller fencing tokens) look taken.
fn teardown(work: &Path, bin: &Path) {
    let cli = |args: &[&str]| {
        Command::new(bin.join("encluster"))
            .args(args)
            .env("ENCLUSTER_CLI_CONFIG", work.join("c/cli.toml"))
            .stdin(Stdio::null())
            .output()
    };
    let Ok(listed) = cli(&["resource", "list", "--json"]) else {
        return;
    };
    let views: Vec<api::ResourceView> = serde_json::from_slice(&listed.stdout).unwrap_or_default();
    for view in views {
        let _ = cli(&[
            "resource",
            "stop",
            &view.spec.name,
            "--wait",
            "--timeout",
            "30s",
        ]);
    }
}

/// Removes the claim of the README's loopback VIP left by an earlier run that was killed
/// before its teardown; no other test uses this address.
fn remove_stale_claim(readme: &str) {
    if readme.contains("ip=127.0.0.50") {
        let claim = Path::new(resource_agents_claim_dir()).join("127.0.0.50.claim");
        let _ = std::fs::remove_file(claim);
    }
}

/// `resource_agents::VIP_CLAIM_DIR_DEFAULT`, which this test crate does not depend on.
fn resource_agents_claim_dir() -> &'static str {
    "/run/encluster-vip"
}

fn readme_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
}

#[test]
fn readme_markers_are_read_and_unmarked_blocks_run() {
    let readme = "text\n\n<!-- readme-test: skip (needs two hosts) -->\n```sh\nhost$ x\n```\n\
                  ```sh\necho hi\n```\n<!-- readme-test: file a.toml -->\n```toml\nk = 1\n```\n\
                  ```text\nnot a command\n```\n";
    assert_eq!(
        blocks(readme).expect("well-formed"),
        vec![
            Block::Skip {
                line: 4,
                reason: "needs two hosts".into()
            },
            Block::Run {
                line: 7,
                text: "echo hi\n".into()
            },
            Block::File {
                line: 11,
                name: "a.toml".into(),
                text: "k = 1\n".into()
            },
        ]
    );
    let error = blocks("<!-- readme-test: skip -->\n```sh\nx\n```\n").expect_err("no reason");
    assert!(error.contains("needs a reason"), "{error}");
    let error = blocks("<!-- readme-test: later -->\n```sh\nx\n```\n").expect_err("unknown");
    assert!(error.contains("unknown marker"), "{error}");
}

#[test]
fn readme_substitutions_are_the_documented_ones() {
    let dir = Path::new("/work/t");
    assert_eq!(
        substitute(
            "encluster init --local 3 --dir /tmp/c\ncargo run --release -- demo\n\
             encluster events --follow   # as they happen\n",
            dir,
            "127.9.9.1"
        ),
        "encluster init --local 3 --base-ip 127.9.9.1 --dir /work/t/c\nencluster demo\n\
         timeout 3 encluster events --follow >/dev/null || [ $? -eq 124 ]  # follows\n"
    );
}

#[test]
fn readme_commands_run_as_written_against_a_local_cluster() {
    let readme = std::fs::read_to_string(readme_path()).expect("read README.md");
    let blocks = blocks(&readme).unwrap_or_else(|error| panic!("{error}"));
    assert!(
        blocks.iter().any(|b| matches!(b, Block::Run { .. })),
        "the README has shell blocks to run"
    );
    remove_stale_claim(&readme);
    let work = tempfile::tempdir().expect("a temporary directory");
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).expect("create bin/");
    std::os::unix::fs::symlink(e2e::binary(), bin.join("encluster")).expect("link encluster");
    let base_ip = e2e::unique_base_ip().to_string();
    let script = script(&blocks, work.path(), &base_ip);
    std::fs::write(work.path().join("readme.sh"), &script).expect("write the script");
    let (status, stdout, stderr) = run_script(work.path(), &bin);
    let report = format!("script:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let status =
        status.unwrap_or_else(|| panic!("the README took over {README_TIMEOUT:?}\n{report}"));
    assert!(
        status.success(),
        "a README command failed ({status})\n{report}"
    );
    for block in &blocks {
        if let Block::Run { line, .. } = block {
            let ran = format!(">>> README block at line {line}");
            assert!(
                stderr.contains(&ran),
                "block at line {line} did not run\n{report}"
            );
        }
    }
    assert!(stderr.contains(">>> README done"), "{report}");
}
