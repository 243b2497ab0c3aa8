//! The man pages and completions cover the whole command tree: the tree is walked here
//! independently of the generator, and every visible command must have its page.

use std::collections::BTreeSet;

use super::{SHELLS, completion, man_pages};

/// `encluster-a-b` for every visible command under `prefix`, `prefix` included.
fn visible_commands(command: &clap::Command, prefix: &str, names: &mut BTreeSet<String>) {
    names.insert(prefix.to_owned());
    for subcommand in command.get_subcommands() {
        if subcommand.is_hide_set() || subcommand.get_name() == "help" {
            continue;
        }
        let name = format!("{prefix}-{}", subcommand.get_name());
        visible_commands(subcommand, &name, names);
    }
}

#[test]
fn every_visible_command_has_a_man_page_naming_it() {
    let mut expected = BTreeSet::new();
    visible_commands(&encluster::command(), "encluster", &mut expected);
    assert!(
        expected.len() > 40,
        "the tree looks truncated: {expected:?}"
    );
    for known in ["encluster-agent", "encluster-init", "encluster-join"] {
        assert!(expected.contains(known), "{known} is not in the tree");
    }
    let pages = man_pages().expect("the pages render");
    let names: BTreeSet<String> = pages
        .iter()
        .map(|page| page.name.strip_suffix(".1").expect("section 1").to_owned())
        .collect();
    assert_eq!(names, expected);
    for page in &pages {
        let text = String::from_utf8(page.contents.clone()).expect("ROFF is UTF-8");
        let title = page.name.trim_end_matches(".1");
        assert!(
            text.starts_with(".ie \\n(.g .ds Aq"),
            "{}: not ROFF",
            page.name
        );
        assert!(
            text.contains(&format!(".TH {title} 1")),
            "{}: no title",
            page.name
        );
        assert!(text.contains(".SH NAME"), "{}: no NAME section", page.name);
        assert!(text.contains("encluster 0."), "{}: no version", page.name);
    }
    let agent = pages
        .iter()
        .find(|page| page.name == "encluster-agent.1")
        .expect("the agent's page");
    let agent = String::from_utf8_lossy(&agent.contents);
    for needle in [".SH ENVIRONMENT", "ENCLUSTER_LOG_FORMAT", ".SH FILES"] {
        assert!(agent.contains(needle), "the agent's page lacks {needle}");
    }
}

#[test]
fn completions_offer_every_top_level_command_in_each_shell() {
    let command = encluster::command();
    let names: Vec<&str> = command
        .get_subcommands()
        .filter(|subcommand| !subcommand.is_hide_set())
        .map(|subcommand| subcommand.get_name())
        .collect();
    for (shell, _) in SHELLS {
        let script = String::from_utf8(completion(shell)).expect("UTF-8");
        for name in &names {
            assert!(script.contains(name), "{shell} completion lacks {name}");
        }
    }
}
