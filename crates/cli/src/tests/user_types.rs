//! `type create|update|delete`: building a definition from flags and files, the table
//! `type show` prints, a cluster file with a `[[type]]` section, and the agent's refusal
//! passed on (against the fake agent at the HTTP boundary).

use expect_test::expect;

use super::fake_agent::{api_args, body, error_text, fake_agent, write_ca};
use crate::commands::run;
use crate::user_types::{
    TypeDefineArgs, build_spec, parse_param, parse_type_file, render_user_type,
};
use crate::{CliCommand, TypeCommand};

const CHAT_FILE: &str = r#"
description = "the paper's chat server"
command = "/usr/local/bin/chat"
args = ["--port", "7000"]
kind = "unique"

[is_alive]
interval = "30s"
tcp = "127.0.0.1:7000"

[[param]]
name = "MaxUser"
kind = "integer"
min = 1
max = 10
default = 5
reloadable = true
description = "most clients at once"
"#;

#[test]
fn a_param_flag_reads_kind_range_default_and_flags() {
    let param = parse_param("MaxUser:integer,1..10,default=5,reloadable,description=most, at once")
        .expect("valid");
    assert_eq!(
        (
            param.name.as_str(),
            param.kind.as_str(),
            param.min,
            param.max
        ),
        ("MaxUser", "integer", Some(1), Some(10))
    );
    assert_eq!(param.default.as_deref(), Some("5"));
    assert!(param.reloadable && !param.required);
    assert_eq!(param.description, "most, at once");
    let mode = parse_param("mode:enum,choices=fast|safe,required").expect("valid");
    assert_eq!(mode.choices, ["fast", "safe"]);
    assert!(mode.required);
}

#[test]
fn a_bad_param_flag_says_how_to_write_it() {
    let usage = "write NAME:KIND followed by attributes, like MaxUser:integer,1..10,default=5";
    assert_eq!(
        parse_param("MaxUser").expect_err("no kind"),
        format!("--param \"MaxUser\": {usage}")
    );
    assert_eq!(
        parse_param("MaxUser:integer,big").expect_err("unknown"),
        format!("--param \"MaxUser:integer,big\": attribute \"big\" is unknown; {usage}")
    );
}

#[test]
fn a_type_file_reads_numbers_as_text_and_flags_override_it() {
    let file = parse_type_file(CHAT_FILE).expect("valid file");
    assert_eq!(file.params[0].default.as_deref(), Some("5"));
    let args = TypeDefineArgs {
        params: vec!["MaxUser:integer,1..20,default=5".into()],
        looks_alive: Some("tcp:127.0.0.1:7000".into()),
        looks_alive_interval: Some("2s".into()),
        ..Default::default()
    };
    let spec = build_spec("chat", None, &args, Some(file)).expect("builds");
    assert_eq!(spec.name, "chat");
    assert_eq!(
        spec.params.len(),
        1,
        "the flag replaces the file's parameter"
    );
    assert_eq!(spec.params[0].max, Some(20));
    let looks = spec.looks_alive.expect("set by flags");
    assert_eq!(
        (looks.tcp.as_deref(), looks.interval.as_deref()),
        (Some("127.0.0.1:7000"), Some("2s"))
    );
    assert_eq!(
        spec.is_alive.expect("from the file").tcp.as_deref(),
        Some("127.0.0.1:7000")
    );
}

#[test]
fn create_without_a_command_asks_for_one() {
    let error = build_spec("chat", None, &TypeDefineArgs::default(), None).expect_err("no command");
    assert_eq!(
        error,
        "--command: give the program an instance runs (or a file with -f)"
    );
}

#[test]
fn a_cluster_file_with_a_type_section_reads_back_as_written() {
    let text = format!("[[type]]\nname = \"chat\"\n{CHAT_FILE}");
    let text = text
        .replace("[is_alive]", "[type.is_alive]")
        .replace("[[param]]", "[[type.param]]");
    let spec = crate::apply::parse_cluster_file(&text).expect("parses");
    assert_eq!(spec.types.len(), 1);
    let rendered = crate::apply::render_cluster_file(&spec).expect("renders");
    assert_eq!(
        crate::apply::parse_cluster_file(&rendered).expect("parses"),
        spec
    );
}

#[test]
fn type_show_prints_a_user_types_schema_as_a_table() {
    let mut spec = parse_type_file(CHAT_FILE).expect("valid file");
    spec.name = "chat".into();
    let detail = api::TypeDetail {
        name: "chat".into(),
        class: "user".into(),
        description: spec.description.clone(),
        parameters: spec.params.clone(),
        actions: Vec::new(),
        definition: Some(spec),
    };
    expect![[r#"
        chat (user type): the paper's chat server
        command: /usr/local/bin/chat --port 7000
        kind: unique; start timeout default; stop timeout default
        looks alive: the process lives, every default (timeout default)
        is alive: tcp 127.0.0.1:7000, every 30s (timeout default)
        ┌───────────┬─────────┬───────┬─────────┬──────────┬───────────┬──────────────────────┐
        │ PARAMETER ┆ KIND    ┆ RANGE ┆ DEFAULT ┆ REQUIRED ┆ ON CHANGE ┆ DESCRIPTION          │
        ╞═══════════╪═════════╪═══════╪═════════╪══════════╪═══════════╪══════════════════════╡
        │ MaxUser   ┆ integer ┆ 1..10 ┆ 5       ┆          ┆ live      ┆ most clients at once │
        └───────────┴─────────┴───────┴─────────┴──────────┴───────────┴──────────────────────┘
    "#]]
    .assert_eq(&render_user_type(&detail));
}

#[tokio::test]
async fn type_create_sends_the_definition_and_passes_a_refusal_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = auth::ClusterCa::generate("test").expect("CA");
    let refusal = r#"{"error":"param MaxUser: min 11 is greater than max 10: swap them"}"#;
    let mut agent = fake_agent(&ca, vec![(400, refusal.to_string())]).await;
    let args = api_args(agent.addr, write_ca(dir.path(), &ca));
    let define = TypeDefineArgs {
        command: Some("/bin/sleep".into()),
        params: vec!["MaxUser:integer,11..10".into()],
        ..Default::default()
    };
    let command = CliCommand::Type(TypeCommand::Create {
        name: "chat".into(),
        define: Box::new(define),
    });
    let error = run(&args, command).await.expect_err("refused");
    expect![[r#"
        the agent at https://ADDR refused the request: param MaxUser: min 11 is greater
        than max 10: swap them (HTTP 400)"#]]
    .assert_eq(&super::wrap(&error_text(error, agent.addr)));
    let request = agent.requests.recv().await.expect("the create request");
    assert!(
        request.starts_with("POST /v1/types HTTP/1.1\r\n"),
        "{request}"
    );
    let sent: api::TypeSpec = serde_json::from_str(body(&request)).expect("a type spec");
    assert_eq!((sent.name.as_str(), sent.params[0].min), ("chat", Some(11)));
    agent.task.await.expect("fake agent ends");
}

// --- roles ---
#[test]
fn role_program_flags_and_file_keys_make_promote_demote_and_notify() {
    let file = format!(
        "{CHAT_FILE}\n[promote]\ncommand = \"/usr/local/bin/chat-role\"\nargs = [\"up\"]\n"
    );
    let file = parse_type_file(&file.replace("kind = \"unique\"", "kind = \"promotable\""))
        .expect("a promote table in a type file");
    let args = TypeDefineArgs {
        demote: Some("/usr/local/bin/chat-role".into()),
        demote_arg: vec!["down".into()],
        notify: Some("logger".into()),
        role_timeout: Some("30s".into()),
        ..Default::default()
    };
    let spec = build_spec("chat", None, &args, Some(file)).expect("builds");
    let promote = spec.promote.clone().expect("from the file");
    assert_eq!(
        (promote.args, promote.timeout),
        (vec!["up".to_owned()], None)
    );
    let demote = spec.demote.clone().expect("from the flags");
    assert_eq!(
        (demote.args, demote.timeout.as_deref()),
        (vec!["down".to_owned()], Some("30s"))
    );
    let detail = api::TypeDetail {
        name: "chat".into(),
        class: "user".into(),
        description: spec.description.clone(),
        parameters: Vec::new(),
        actions: Vec::new(),
        definition: Some(spec.clone()),
    };
    let shown = render_user_type(&detail);
    assert!(
        shown.contains(
            "promote: /usr/local/bin/chat-role up (timeout default)\n\
             demote: /usr/local/bin/chat-role down (timeout 30s)\n\
             notify: logger (timeout 30s)\n"
        ),
        "{shown}"
    );
    let dropped = TypeDefineArgs {
        no_role_programs: true,
        ..Default::default()
    };
    let spec = build_spec("chat", Some(spec), &dropped, None).expect("builds");
    assert_eq!((spec.promote, spec.demote, spec.notify), (None, None, None));
    let orphan = TypeDefineArgs {
        command: Some("/bin/true".into()),
        promote_arg: vec!["x".into()],
        ..Default::default()
    };
    assert_eq!(
        build_spec("chat", None, &orphan, None).expect_err("no program"),
        "--promote-arg: give the program with --promote"
    );
}
