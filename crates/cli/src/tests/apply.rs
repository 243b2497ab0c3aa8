//! `apply -f`: parsing cluster files (and where their errors point), the diff text and the
//! confirmation decision, all without a terminal or an agent.

use expect_test::expect;

use super::check;
use crate::apply::{
    Confirmation, answer_is_yes, applied_message, confirmation, line_column, parse_cluster_file,
    prompt, render_diff,
};

const CLUSTER_FILE: &str = r#"
[[resource]]
name = "web"
type = "process"
stickiness = 200
monitor_interval = "5s"
[resource.params]
command = "/usr/bin/python3"
args = "-m http.server 8080"

[[resource]]
name = "vip"
type = "vip"
params = { ip = "127.0.0.100" }

[[group]]
name = "site"
members = ["vip", "web"]

[[constraint]]
type = "location"
resource = "web"
node = 2
score = "-INFINITY"

[[constraint]]
type = "order"
first = "vip"
then = "web"
"#;

#[test]
fn cluster_file_with_resources_groups_and_constraints_parses() {
    let spec = parse_cluster_file(CLUSTER_FILE).expect("valid file");
    assert_eq!(spec.resources.len(), 2);
    assert_eq!(spec.resources[0].stickiness, Some(200));
    assert_eq!(spec.resources[0].params["args"], "-m http.server 8080");
    assert_eq!(spec.resources[1].params["ip"], "127.0.0.100");
    assert_eq!(
        spec.groups,
        [api::GroupSpec {
            name: "site".to_string(),
            members: vec!["vip".to_string(), "web".to_string()],
        }]
    );
    assert_eq!(
        spec.constraints[1],
        api::ConstraintSpec::Order {
            first: "vip".to_string(),
            then: "web".to_string(),
            kind: None,
        }
    );
    assert_eq!(
        parse_cluster_file("").expect("empty file"),
        api::ClusterSpec::default()
    );
}

fn error(text: &str) -> String {
    let error = parse_cluster_file(text).expect_err("invalid file");
    format!("{error:#}")
}

#[test]
fn cluster_file_errors_name_the_line_and_the_problem() {
    let errors = [
        error("[[resource]]\nname = \"web\"\ntype = process\n"),
        error("[[resource]]\nname = \"web\"\ntype = \"process\"\nstickyness = 5\n"),
        error("[[resource]]\nname = \"web\"\ntype = \"p\"\nmonitor_interval = 10\n"),
        error("[[resource]]\nname = \"web\"\n"),
        error("[[constraint]]\ntype = \"nearby\"\nresource = \"web\"\n"),
        error("[[resorce]]\nname = \"web\"\n"),
    ];
    check(
        errors.map(|error| super::wrap(&error)).join("\n"),
        expect![[r#"
            line 3, column 8: string values must be quoted, expected literal string (in
            `type = process`)
            line 4, column 1: unknown field `stickyness`, expected one of `name`, `type`,
            `params`, `unique`, `clone`, `clone_max`, `monitor_interval`, `monitor_timeout`,
            `start_timeout`, `stop_timeout`, `stickiness`, `migration_threshold`,
            `failure_timeout`, `drain`, `target_role`, `utilization`, `promoted_max` (in
            `stickyness = 5`)
            line 4, column 20: invalid type: integer `10`, expected a string (quote it:
            names and durations are strings, like monitor_interval = "10s") (in
            `monitor_interval = 10`)
            line 1, column 1: missing field `type` (in `[[resource]]`)
            line 2, column 8: unknown variant `nearby`, expected one of `order`,
            `colocation`, `location` (in `type = "nearby"`)
            line 1, column 3: unknown field `resorce`, expected one of `resource`, `group`,
            `constraint`, `type`, `alert`, `fence` (in `[[resorce]]`)"#]],
    );
}

#[test]
fn numbers_and_booleans_in_params_are_taken_as_their_text() {
    let text = "[[resource]]\nname = \"web\"\ntype = \"p\"\n\
        [resource.params]\nport = 8080\ndebug = true\nratio = 0.5\ncommand = \"/bin/web\"\n";
    let spec = parse_cluster_file(text).expect("valid file");
    let params: Vec<(&str, &str)> = spec.resources[0]
        .params
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        params,
        [
            ("command", "/bin/web"),
            ("debug", "true"),
            ("port", "8080"),
            ("ratio", "0.5")
        ]
    );
}

#[test]
fn line_and_column_count_characters_from_one() {
    let text = "ab\ncé\nx";
    assert_eq!(line_column(text, 0), (1, 1));
    assert_eq!(line_column(text, 3), (2, 1));
    assert_eq!(line_column(text, 6), (2, 3));
    assert_eq!(line_column(text, 7), (3, 1));
    assert_eq!(line_column(text, 100), (3, 2));
}

#[test]
fn diff_lists_every_change_and_counts_them_by_kind() {
    let changes = [
        "+ resource web (process)",
        "~ resource db: params.port 5432 -> 5433",
        "- resource old",
        "+ group site [vip, web]",
    ]
    .map(str::to_string);
    check(
        render_diff(&changes),
        expect![[r#"
            + resource web (process)
            ~ resource db: params.port 5432 -> 5433
            - resource old
            + group site [vip, web]
            4 changes: 2 to add, 1 to change, 1 to remove
        "#]],
    );
    check(
        render_diff(&[]),
        expect![[r#"
            no changes: the cluster already matches the file
        "#]],
    );
    assert_eq!(prompt(4), "apply these 4 changes? [y/N] ");
    assert_eq!(prompt(1), "apply this change? [y/N] ");
}

#[test]
fn apply_asks_only_on_a_terminal_and_refuses_without_one_unless_told_yes() {
    assert_eq!(confirmation(true, true), Confirmation::Proceed);
    assert_eq!(confirmation(false, true), Confirmation::Proceed);
    assert_eq!(confirmation(true, false), Confirmation::Ask);
    let Confirmation::Refuse(message) = confirmation(false, false) else {
        panic!("a pipe without --yes must refuse");
    };
    check(
        super::wrap(&message),
        expect![[r#"
            standard input is not a terminal, so nobody can confirm: nothing was changed;
            pass --yes to apply without asking, or --dry-run to only see the changes"#]],
    );
}

#[test]
fn only_an_explicit_yes_applies() {
    for answer in ["y\n", "Y", " yes \n", "YES"] {
        assert!(answer_is_yes(answer), "{answer:?}");
    }
    for answer in ["", "\n", "n", "no", "yep", "y es", "ja"] {
        assert!(!answer_is_yes(answer), "{answer:?}");
    }
}

#[test]
fn applied_message_warns_when_the_cluster_changed_after_the_diff() {
    let planned = vec!["+ resource web (process)".to_string()];
    let same = api::ApplyResult {
        changes: planned.clone(),
        applied: true,
    };
    let more = api::ApplyResult {
        changes: vec![planned[0].clone(), "- resource db".to_string()],
        applied: true,
    };
    let none = api::ApplyResult {
        changes: Vec::new(),
        applied: false,
    };
    check(
        [
            applied_message(&planned, &same),
            applied_message(&planned, &more),
            applied_message(&planned, &none),
        ]
        .join("\n"),
        expect![[r#"
            applied 1 change
            applied 2 changes
            warning: the cluster changed after the diff above; these were applied:
            + resource web (process)
            - resource db
            2 changes: 1 to add, 0 to change, 1 to remove
            the agent made no changes"#]],
    );
}
