//! docs/config.md is what `cargo xtask config-doc` writes from today's code, and it covers
//! every setting the agent's config declares.

use std::path::{Path, PathBuf};

use super::{OUTPUT, SOURCE, render, source};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

#[test]
fn committed_config_reference_is_up_to_date() {
    let root = root();
    let expected = render(&root).expect("the reference renders");
    let committed = std::fs::read_to_string(root.join(OUTPUT)).unwrap_or_default();
    assert!(
        committed == expected,
        "{OUTPUT} is not what the code says; run `cargo xtask config-doc` and commit it"
    );
}

#[test]
fn every_setting_has_a_heading_a_description_and_a_default_line() {
    let root = root();
    let text = std::fs::read_to_string(root.join(SOURCE)).expect("the config source");
    let structs = source::parse(&text).expect("the config source reads");
    let reference = render(&root).expect("the reference renders");
    let fields: usize = structs.iter().map(|item| item.fields.len()).sum();
    assert!(fields >= 30, "only {fields} fields were read");
    for item in &structs {
        for field in &item.fields {
            assert!(
                !field.doc.is_empty(),
                "{}.{} has no doc",
                item.name,
                field.name
            );
        }
    }
    for key in [
        "### `voters_max`",
        "### `failure.suspect_after`",
        "### `api.connections_max`",
        "### `watchdog.interval`",
        "### `bootstrap.members.peer_addr`",
    ] {
        assert!(reference.contains(key), "no {key}");
    }
    assert!(reference.contains("- Default: `\"300ms\"`"));
    assert!(reference.contains("`voters_max = 0` is refused"));
    assert!(
        reference.contains("- Default: `true`"),
        "monitoring defaults to true"
    );
}
