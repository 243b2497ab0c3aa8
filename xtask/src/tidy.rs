//! `cargo xtask tidy`: cheap checks of the house style over every Rust file, also run as a
//! test so CI enforces them (rust-analyzer's `tidy.rs`).

use std::path::{Path, PathBuf};

/// Longest line allowed in Rust files (rustfmt's `max_width`).
const LINE_WIDTH_MAX: usize = 100;
/// Functions longer than this are reported (not failed): a prompt to split them.
const FUNCTION_LINES_REPORT: usize = 70;

/// A rule broken at a place.
#[derive(Debug, PartialEq, Eq)]
pub struct Violation {
    /// File and line.
    pub place: String,
    /// What is wrong.
    pub problem: String,
}

/// Every `.rs` file under `crates/` and `xtask/`, sorted.
pub fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for top in ["crates", "xtask"] {
        collect(&root.join(top), &mut files);
    }
    files.sort();
    files
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name == "target" || name.starts_with('.') {
                continue;
            }
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Check one file's text.
pub fn check_file(name: &str, text: &str) -> Vec<Violation> {
    let mut violations = Vec::new();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !first.starts_with("//!") {
        violations.push(Violation {
            place: format!("{name}:1"),
            problem: "a module must start with a `//!` doc saying what it is".into(),
        });
    }
    // Built from pieces so that this file does not trip its own check.
    let banned = [
        (concat!("dbg", "!("), "leftover dbg!"),
        (concat!("todo", "!("), "todo! left in code"),
        (
            concat!("unimplemented", "!("),
            "unimplemented! left in code",
        ),
        (
            concat!("#[", "ignore"),
            "ignored test (forbidden: a test must run)",
        ),
        (
            concat!("#[", "should_panic"),
            "should_panic test (forbidden)",
        ),
        (
            concat!("unbounded", "_channel"),
            "unbounded channel (every channel is bounded)",
        ),
    ];
    for (number, line) in text.lines().enumerate() {
        let place = format!("{name}:{}", number + 1);
        for (pattern, problem) in banned {
            if line.contains(pattern) {
                violations.push(Violation {
                    place: place.clone(),
                    problem: problem.into(),
                });
            }
        }
        if line.chars().count() > LINE_WIDTH_MAX {
            violations.push(Violation {
                place,
                problem: format!("line longer than {LINE_WIDTH_MAX} characters"),
            });
        }
    }
    violations
}

/// Functions longer than the report limit, as `file:line name (N lines)`.
pub fn long_functions(name: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let is_fn = trimmed.starts_with("fn ")
            || trimmed.starts_with("pub fn ")
            || trimmed.starts_with("async fn ")
            || trimmed.starts_with("pub async fn ")
            || trimmed.starts_with("pub(crate) fn ")
            || trimmed.starts_with("pub(crate) async fn ");
        if !is_fn || trimmed.ends_with(';') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let closing = " ".repeat(indent) + "}";
        if let Some(length) = lines[start..].iter().position(|l| *l == closing)
            && length > FUNCTION_LINES_REPORT
        {
            found.push(format!("{name}:{} ({length} lines)", start + 1));
        }
    }
    found
}

#[cfg(test)]
mod tests;
