//! Fuzz targets for the parsers that take hostile input (issue 15 point 4), and two ways of
//! running them.
//!
//! Each target ([`TARGETS`]) takes any bytes and must not panic, abort, hang or take
//! unbounded memory (some also check a property of what they produce).
//!
//! The long runs are coverage-guided: `fuzz/libfuzzer/` is a cargo-fuzz project (its own
//! workspace, nightly only) with one libFuzzer binary per target calling the same
//! function, and `fuzz/run.sh TARGET SECONDS` runs one for that long, merges the new
//! inputs that add coverage into the committed corpus and appends the run to
//! `fuzz/RUNS.md` (see `fuzz/README.md`).
//!
//! The test command replays the committed corpora on stable Rust: [`run`] replays a
//! target's corpus (`fuzz/corpus/<target>/`), then mutates it, seeded, for a number of
//! executions or a time budget, whichever ends first: bit flips, interesting bytes,
//! insertions, deletions, duplications, splices and the target's dictionary of tokens. That
//! loop is blind (no coverage feedback); the corpus holds the shapes worth starting from. A
//! panic is a crash: the input is written to `fuzz/artifacts/<target>/` and returned. An
//! abort (a failed allocation, a stack overflow) ends the process instead: the inputs
//! follow from the seed, so a rerun with the same seed and `FUZZ_TRACE=1` writes each input
//! to `fuzz/artifacts/<target>/current` before it runs, and the file holds the culprit after
//! the abort. `cargo test -p fuzz` runs every target for its budget; `cargo run -p fuzz --
//! TARGET SECONDS` runs the blind loop for longer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod mutate;
mod targets;

pub use targets::{TARGETS, Target};

/// How long and from where a run goes.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Most executions after the corpus replay.
    pub executions: u64,
    /// Longest run after the corpus replay.
    pub time: Duration,
    /// The seed of the mutations.
    pub seed: u64,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Corpus inputs replayed.
    pub replayed: usize,
    /// Mutated inputs executed.
    pub executions: u64,
    /// The first crash: where its input was written, and the input.
    pub crash: Option<(PathBuf, Vec<u8>)>,
}

/// The folder of the committed corpora.
pub fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The inputs of a target's corpus, sorted by file name.
pub fn corpus(target: &Target) -> Vec<Vec<u8>> {
    let dir = corpus_root().join(target.name);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("corpus {}: {error}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| std::fs::read(path).expect("a corpus file"))
        .collect()
}

/// Runs `input` through the target; a panic is returned as its message.
pub fn execute(target: &Target, input: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| (target.run)(input))).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic".into())
    })
}

/// Replays the corpus, then mutates it within the budget; stops at the first crash.
pub fn run(target: &Target, budget: &Budget) -> Outcome {
    let corpus = corpus(target);
    assert!(!corpus.is_empty(), "the corpus of {} is empty", target.name);
    let mut outcome = Outcome::default();
    for input in &corpus {
        outcome.replayed += 1;
        if execute(target, input).is_err() {
            outcome.crash = Some((save_crash(target, input), input.clone()));
            return outcome;
        }
    }
    let mut mutator = mutate::Mutator::new(budget.seed, target.dictionary);
    let trace = std::env::var_os("FUZZ_TRACE")
        .is_some()
        .then(|| artifacts(target));
    let started = Instant::now();
    while outcome.executions < budget.executions && started.elapsed() < budget.time {
        let input = mutator.next(&corpus);
        outcome.executions += 1;
        if let Some(dir) = &trace {
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(dir.join("current"), &input);
        }
        if execute(target, &input).is_err() {
            outcome.crash = Some((save_crash(target, &input), input));
            return outcome;
        }
    }
    outcome
}

/// Writes a crashing input under `fuzz/artifacts/<target>/` and returns its path.
fn save_crash(target: &Target, input: &[u8]) -> PathBuf {
    let dir = artifacts(target);
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("crash-{hash:016x}"));
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(&path, input);
    }
    path
}

/// Where a target's crashing inputs are written.
fn artifacts(target: &Target) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts")
        .join(target.name)
}

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|target| target.name == name)
}

/// The target's tokens in libFuzzer's dictionary format: one `"..."` line each, with `\\`,
/// `"` and every byte outside printable ASCII written as `\xNN`.
pub fn libfuzzer_dictionary(target: &Target) -> String {
    let mut text = String::new();
    for token in target.dictionary {
        text.push('"');
        for &byte in *token {
            match byte {
                b'"' | b'\\' => text.push_str(&format!("\\x{byte:02X}")),
                b' '..=b'~' => text.push(byte as char),
                _ => text.push_str(&format!("\\x{byte:02X}")),
            }
        }
        text.push_str("\"\n");
    }
    text
}
