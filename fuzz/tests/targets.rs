//! Every fuzz target replays its committed corpus and then runs mutated inputs for a
//! bounded budget (`FUZZ_SECONDS`, default 20 s, or `FUZZ_EXECUTIONS`, default unbounded,
//! whichever ends first; `FUZZ_SEED`, default 15). A crash fails the test with its input.

use std::time::Duration;

fn budget() -> fuzz::Budget {
    let number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map_or(default, |text| text.parse().expect("a whole number"))
    };
    fuzz::Budget {
        executions: number("FUZZ_EXECUTIONS", u64::MAX),
        time: Duration::from_secs(number("FUZZ_SECONDS", 20)),
        seed: number("FUZZ_SEED", 15),
    }
}

fn fuzz(name: &str) {
    let target = fuzz::target(name).expect("a target");
    let outcome = fuzz::run(target, &budget());
    if let Some((path, input)) = outcome.crash {
        panic!(
            "{name} crashed on {:?} (saved in {}); fix it and add a regression test",
            String::from_utf8_lossy(&input),
            path.display()
        );
    }
    assert!(outcome.replayed > 0);
}

#[test]
fn every_target_is_tested_here() {
    let source = include_str!("targets.rs");
    for target in fuzz::TARGETS {
        assert!(
            source.contains(&format!("fn {}()", target.name)),
            "no test runs the fuzz target {}",
            target.name
        );
    }
}

#[test]
fn every_target_has_a_libfuzzer_binary() {
    let harness = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("libfuzzer");
    let manifest =
        std::fs::read_to_string(harness.join("Cargo.toml")).expect("fuzz/libfuzzer/Cargo.toml");
    for target in fuzz::TARGETS {
        let path = format!("fuzz_targets/{}.rs", target.name);
        assert!(
            manifest.contains(&format!("path = \"{path}\"")),
            "fuzz/libfuzzer/Cargo.toml has no [[bin]] for {}",
            target.name
        );
        let source = std::fs::read_to_string(harness.join(&path)).expect("a libFuzzer target");
        assert!(
            source.contains(&format!("fuzz::target(\"{}\")", target.name)),
            "fuzz/libfuzzer/{path} does not run the fuzz target {}",
            target.name
        );
    }
}

#[test]
fn lb_request() {
    fuzz("lb_request");
}

#[test]
fn lb_response() {
    fuzz("lb_response");
}

#[test]
fn lb_chunk_size() {
    fuzz("lb_chunk_size");
}

#[test]
fn ocf_meta_data() {
    fuzz("ocf_meta_data");
}

#[test]
fn fence_meta_data() {
    fuzz("fence_meta_data");
}

#[test]
fn config_toml() {
    fuzz("config_toml");
}

#[test]
fn api_json() {
    fuzz("api_json");
}

#[test]
fn app_protocol() {
    fuzz("app_protocol");
}

#[test]
fn cmdb_command() {
    fuzz("cmdb_command");
}

#[test]
fn cmdb_entry() {
    fuzz("cmdb_entry");
}

#[test]
fn cmdb_snapshot() {
    fuzz("cmdb_snapshot");
}

#[test]
fn fence_output() {
    fuzz("fence_output");
}

#[test]
fn the_libfuzzer_dictionary_escapes_quotes_backslashes_and_control_bytes() {
    let http = fuzz::target("lb_request").expect("lb_request is a target");
    let text = fuzz::libfuzzer_dictionary(http);
    assert_eq!(text.lines().count(), http.dictionary.len());
    assert!(text.contains("\"\\x0D\\x0A\"\n"), "CRLF is escaped: {text}");
    assert!(text.contains("\"Host: a\\x0D\\x0A\"\n"), "{text}");
    for line in text.lines() {
        assert!(line.starts_with('"') && line.ends_with('"'), "{line}");
        let inner = &line[1..line.len() - 1];
        assert!(!inner.contains('"'), "an unescaped quote in {line}");
        assert!(
            inner.bytes().all(|byte| (b' '..=b'~').contains(&byte)),
            "{line}"
        );
    }
}
