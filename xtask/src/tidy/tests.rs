//! The tidy check over the whole tree, plus tests of the checker itself.

use super::{check_file, long_functions, rust_files};

#[test]
fn tree_is_tidy() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = rust_files(&root);
    assert!(
        files.len() > 20,
        "found only {} Rust files; wrong root?",
        files.len()
    );
    let mut violations = Vec::new();
    let mut long = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read a source file");
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        violations.extend(check_file(&name, &text));
        long.extend(long_functions(&name, &text));
    }
    if !long.is_empty() {
        eprintln!("functions over the length guideline (split them when you touch them):");
        for entry in &long {
            eprintln!("  {entry}");
        }
    }
    let report: Vec<String> = violations
        .iter()
        .map(|v| format!("{}: {}", v.place, v.problem))
        .collect();
    assert!(
        report.is_empty(),
        "tidy found problems:\n{}",
        report.join("\n")
    );
}

#[test]
fn missing_module_doc_and_banned_macros_are_reported() {
    let text = concat!("fn main() {\n    ", "dbg", "!(1);\n}\n");
    let problems: Vec<String> = check_file("x.rs", text)
        .into_iter()
        .map(|v| v.problem)
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("`//!`"));
    assert!(problems[1].contains("dbg!"));
}

#[test]
fn long_lines_are_reported() {
    let text = format!("//! Doc.\nconst X: &str = \"{}\";\n", "a".repeat(120));
    let violations = check_file("y.rs", &text);
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].place, "y.rs:2");
}

#[test]
fn long_functions_are_found_by_their_closing_brace() {
    let body = "    let x = 1;\n".repeat(80);
    let text = format!("//! Doc.\nfn long() {{\n{body}}}\nfn short() {{\n}}\n");
    assert_eq!(
        long_functions("z.rs", &text),
        vec!["z.rs:2 (81 lines)".to_string()]
    );
}
