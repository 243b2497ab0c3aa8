//! Unit tests of the OCF pieces that need no script: type names, the XML reader, the
//! meta-data to schema translation and the exit code table.

use super::OcfType;
use super::exit::{Action, detail_of, outcome_of};
use super::meta::{schema_from_meta_data, type_info_from_meta_data};
use super::xml;
use crate::operation::{Outcome, Severity};
use model::{ParamKind, ParamSpec};

#[test]
fn ocf_type_names_are_split_into_provider_and_agent() {
    assert_eq!(
        OcfType::parse("ocf:heartbeat:Dummy"),
        Some(OcfType {
            provider: "heartbeat".into(),
            agent: "Dummy".into()
        })
    );
}

#[test]
fn ocf_type_names_that_could_escape_the_ocf_root_are_refused() {
    for name in [
        "ocf:heartbeat",
        "ocf:../x:y",
        "ocf:a:..",
        "ocf:a:b/c",
        "lsb:a:b",
        "ocf:a:b:c",
        "ocf::b",
    ] {
        assert_eq!(OcfType::parse(name), None, "{name}");
    }
}

#[test]
fn xml_reader_handles_prolog_comments_cdata_and_entities() {
    let document = r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd" [ <!ENTITY x "y"> ]>
<!-- a comment -->
<root a='1' b="x &amp; &lt;y&gt; &#65;&#x42;">
  <child/>text <![CDATA[<raw>]]><!-- inner --><child>more</child>
</root>
"#;
    let root = xml::parse(document).expect("valid document");
    assert_eq!(root.name, "root");
    assert_eq!(root.attribute("a"), Some("1"));
    assert_eq!(root.attribute("b"), Some("x & <y> AB"));
    assert_eq!(root.elements("child").count(), 2);
    assert_eq!(
        root.text().split_whitespace().collect::<Vec<_>>(),
        ["text", "<raw>more"]
    );
}

#[test]
fn xml_reader_reports_mismatched_and_unterminated_tags_with_a_line() {
    assert_eq!(
        xml::parse("<a>\n<b></a>"),
        Err("</a> closes <b> on line 2".to_owned())
    );
    assert!(
        xml::parse("<a>")
            .expect_err("unterminated")
            .contains("unexpected end")
    );
    assert!(
        xml::parse("<a/><b/>")
            .expect_err("two roots")
            .contains("after the root")
    );
    assert!(
        xml::parse("<a x=1/>")
            .expect_err("unquoted")
            .contains("quoted")
    );
}

#[test]
fn xml_reader_refuses_deep_nesting() {
    let document = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    assert!(
        xml::parse(&document)
            .expect_err("too deep")
            .contains("nested too deeply")
    );
}

const META_DATA: &str = r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="Example" version="1.0">
<version>1.1</version>
<longdesc lang="en">An example.</longdesc>
<shortdesc lang="en">Example</shortdesc>
<parameters>
<parameter name="state" unique="1">
<longdesc lang="en">Where the
  state goes.</longdesc>
<shortdesc lang="en">State file</shortdesc>
<content type="string" default="/run/x.state" />
</parameter>
<parameter name="count" required="1">
<longdesc lang="en">How many.</longdesc>
<content type="integer"/>
</parameter>
<parameter name="mode">
<shortdesc lang="en">Mode</shortdesc>
<content type="select" default="fast"><option value="fast"/><option value="safe"/></content>
</parameter>
<parameter name="fake"><shortdesc lang="en">Fake</shortdesc>
<content type="boolean" default="false"/></parameter>
<parameter name="count"><content type="string"/></parameter>
</parameters>
<actions><action name="start" timeout="20s"/></actions>
</resource-agent>
"#;

#[test]
fn meta_data_parameters_become_a_schema() {
    let schema = schema_from_meta_data(META_DATA).expect("valid meta-data");
    let expected = vec![
        ParamSpec::new("state", ParamKind::String, "State file")
            .with_default("/run/x.state")
            .unique(),
        ParamSpec::new("count", ParamKind::Integer, "How many.").required(),
        ParamSpec::new(
            "mode",
            ParamKind::Enum(vec!["fast".into(), "safe".into()]),
            "Mode",
        )
        .with_default("fast"),
        ParamSpec::new("fake", ParamKind::Boolean, "Fake").with_default("false"),
    ];
    assert_eq!(schema.params, expected);
}

const META_DATA_1_1: &str = r#"<?xml version="1.0"?>
<resource-agent name="Reloader" version="1.0">
<version>1.1</version>
<longdesc lang="en">Long words.</longdesc>
<shortdesc lang="en">Reloads  its
 configuration</shortdesc>
<parameters>
<parameter name="config" unique-group="cfg" reloadable="1">
<shortdesc lang="en">Config file</shortdesc>
<content type="string"/>
</parameter>
<parameter name="port" unique="1"><content type="port" default="80"/></parameter>
</parameters>
<actions>
<action name="start" timeout="20s"/>
<action name="monitor" timeout="10" interval="30s" depth="0"/>
<action name="reload-agent" timeout="bogus"/>
<action name="meta-data" timeout="5s"/>
</actions>
</resource-agent>
"#;

#[test]
fn meta_data_gives_the_type_description_actions_and_reloadable_parameters() {
    let info = type_info_from_meta_data("ocf:test:Reloader", META_DATA_1_1).expect("valid");
    assert_eq!(info.name, "ocf:test:Reloader");
    assert_eq!(info.class, model::TypeClass::Ocf);
    assert_eq!(info.description, "Reloads its configuration");
    assert_eq!(
        info.schema.params,
        vec![
            ParamSpec::new("config", ParamKind::String, "Config file").reloadable(),
            ParamSpec::new("port", ParamKind::Port, "")
                .with_default("80")
                .unique(),
        ]
    );
    let seconds = |s| Some(std::time::Duration::from_secs(s));
    let actions: Vec<_> = info
        .actions
        .iter()
        .map(|a| (a.name.as_str(), a.timeout, a.interval, a.depth))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("start", seconds(20), None, None),
            ("monitor", seconds(10), seconds(30), Some(0)),
            // A time that does not parse is left out, not the whole agent.
            ("reload-agent", None, None, None),
            ("meta-data", seconds(5), None, None),
        ]
    );
    assert!(info.has_action("reload-agent"));
    assert!(!info.has_action("reload"));
}

#[test]
fn meta_data_without_reload_reloads_nothing() {
    let schema = schema_from_meta_data(META_DATA).expect("valid meta-data");
    assert_eq!(schema.reload, None);
    assert!(schema.params.iter().all(|spec| !spec.reloadable));
}

fn with_actions(actions: &str) -> String {
    META_DATA
        .replace(
            r#"<parameter name="fake">"#,
            r#"<parameter name="fake" reloadable="1">"#,
        )
        .replace(r#"<action name="start" timeout="20s"/>"#, actions)
}

#[test]
fn ocf_1_0_reload_reloads_every_parameter_that_is_not_unique() {
    let document = with_actions(r#"<action name="start"/><action name="reload"/>"#);
    let schema = schema_from_meta_data(&document).expect("valid meta-data");
    assert_eq!(schema.reload.as_deref(), Some("reload"));
    let reloadable: Vec<&str> = schema
        .params
        .iter()
        .filter(|spec| spec.reloadable)
        .map(|spec| spec.name.as_str())
        .collect();
    assert_eq!(reloadable, ["count", "mode", "fake"]);
}

#[test]
fn ocf_1_1_reload_agent_reloads_only_parameters_marked_reloadable() {
    let document = with_actions(r#"<action name="reload"/><action name="reload-agent"/>"#);
    let schema = schema_from_meta_data(&document).expect("valid meta-data");
    assert_eq!(schema.reload.as_deref(), Some("reload-agent"));
    let reloadable: Vec<&str> = schema
        .params
        .iter()
        .filter(|spec| spec.reloadable)
        .map(|spec| spec.name.as_str())
        .collect();
    assert_eq!(reloadable, ["fake"]);
}

#[test]
fn meta_data_with_another_root_is_unusable() {
    let error = schema_from_meta_data("<html/>").expect_err("not meta-data");
    assert_eq!(error, "root element is <html>, not <resource-agent>");
}

fn check(action: Action, code: i32, expected: Outcome) {
    assert_eq!(
        outcome_of(action, code, ""),
        expected,
        "{action:?} exit code {code}"
    );
}

fn severity_of(action: Action, code: i32) -> Option<Severity> {
    match outcome_of(action, code, "") {
        Outcome::Failed { severity, .. } => Some(severity),
        _ => None,
    }
}

#[test]
fn exit_codes_follow_the_ocf_recovery_types() {
    check(Action::Start, 0, Outcome::Ok);
    check(Action::Monitor, 8, Outcome::Ok);
    check(Action::Monitor, 7, Outcome::NotRunning);
    check(Action::Stop, 7, Outcome::Ok);
    assert_eq!(severity_of(Action::Start, 1), Some(Severity::Soft));
    for code in [2, 3, 4, 5] {
        assert_eq!(
            severity_of(Action::Start, code),
            Some(Severity::Hard),
            "code {code}"
        );
    }
    assert_eq!(severity_of(Action::ValidateAll, 6), Some(Severity::Fatal));
    assert_eq!(severity_of(Action::Start, 7), Some(Severity::Soft));
    assert_eq!(severity_of(Action::Monitor, 9), Some(Severity::Soft));
    assert_eq!(severity_of(Action::Monitor, 42), Some(Severity::Soft));
}

#[test]
fn failure_reasons_name_the_action_the_meaning_and_the_agents_words() {
    let outcome = outcome_of(Action::ValidateAll, 2, "State file is not writable");
    let expected = "validate-all failed: invalid arguments for this node (OCF exit code 2): \
                    State file is not writable";
    assert_eq!(outcome, Outcome::failed(Severity::Hard, expected));
}

#[test]
fn the_agents_exit_reason_wins_over_other_output() {
    let stderr = "noise\nocf-exit-reason:No process state file found\nmore noise\n";
    assert_eq!(detail_of(stderr, "stdout"), "No process state file found");
    assert_eq!(detail_of("a\nb\nc\nd\n", "x"), "b | c | d");
    assert_eq!(detail_of("", "only stdout"), "only stdout");
}
