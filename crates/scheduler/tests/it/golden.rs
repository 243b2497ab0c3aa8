//! Runs every `test_data/<scenario>.toml` and compares the plan with `<scenario>.plan`.
//!
//! `UPDATE_EXPECT=1 cargo test -p scheduler` rewrites the `.plan` files; review that diff
//! first. Every scenario also passes the invariants in `invariants.rs`.

use std::path::{Path, PathBuf};

use crate::{fixture, invariants};

const SCENARIO_COUNT_MIN: usize = 40;

fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("test_data is readable")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn golden_scenarios_match_their_plans() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let paths = scenarios();
    assert!(
        paths.len() >= SCENARIO_COUNT_MIN,
        "only {} scenarios",
        paths.len()
    );
    let mut mismatches = Vec::new();
    for path in &paths {
        let name = path
            .file_stem()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(path).expect("scenario is readable");
        let title = text.lines().next().unwrap_or_default();
        assert!(
            title.starts_with("# "),
            "{name}: the first line must say what it tests"
        );
        let input = fixture::parse(&text);
        let plan = scheduler::schedule(&input);
        invariants::check(&input, &plan);
        let rendered = fixture::render(title, &input, &plan);
        let plan_path = path.with_extension("plan");
        let expected = std::fs::read_to_string(&plan_path).unwrap_or_default();
        if rendered == expected {
            continue;
        }
        if update {
            std::fs::write(&plan_path, &rendered).expect("plan file is writable");
        } else {
            mismatches.push(format!(
                "--- {name}: expected\n{expected}\n+++ {name}: actual\n{rendered}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} scenarios differ (UPDATE_EXPECT=1 rewrites them):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn scenario_file_names_are_kebab_case() {
    for path in scenarios() {
        let name = path
            .file_stem()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let kebab = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        assert!(kebab, "{name} is not kebab-case");
    }
}
