//! Config resolution: flags (and their environment variables, merged by clap) win over the
//! CLI config file, relative CA paths follow the file, and missing settings name every fix.
//!
//! Each test writes its config files into a temporary directory and passes the candidate
//! paths explicitly, so neither the process environment nor the real home is read.

use std::path::{Path, PathBuf};

use expect_test::expect;

use crate::ApiArgs;
use crate::config::{
    CliConfigFile, Origin, Target, default_config_paths, normalize_api, parse_config_file, resolve,
};

fn args(api: Option<&str>, token: Option<&str>, ca: Option<&str>) -> ApiArgs {
    ApiArgs {
        api: api.map(str::to_string),
        token: token.map(str::to_string),
        ca: ca.map(PathBuf::from),
        cli_config: None,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create dir");
    std::fs::write(&path, text).expect("write test file");
    path
}

/// An error's whole chain on one line, with the temporary directory replaced by `$DIR`.
fn error_text(error: anyhow::Error, dir: &Path) -> String {
    format!("{error:#}").replace(&dir.display().to_string(), "$DIR")
}

fn wrapped_error(error: anyhow::Error, dir: &Path) -> String {
    super::wrap(&error_text(error, dir))
}

const FULL_FILE: &str = "api = \"127.0.0.11:7511\"\ntoken = \"enc_api_file\"\nca = \"ca.pem\"\n";

#[test]
fn file_supplies_everything_and_relative_ca_follows_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "xdg/encluster/cli.toml", FULL_FILE);
    let target = resolve(&args(None, None, None), std::slice::from_ref(&file)).expect("resolves");
    let expected = Target {
        api: "https://127.0.0.11:7511".to_string(),
        apis: vec!["https://127.0.0.11:7511".to_string()],
        token: Some("enc_api_file".to_string()),
        token_origin: Some(Origin::File(file.clone())),
        ca: dir.path().join("xdg/encluster/ca.pem"),
        ca_origin: Origin::File(file),
    };
    assert_eq!(target, expected);
}

#[test]
fn flags_win_over_the_file_one_setting_at_a_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "cli.toml", FULL_FILE);
    let paths = [file.clone()];
    let target = resolve(&args(Some("https://10.0.0.1:1/"), None, None), &paths).expect("ok");
    assert_eq!(target.api, "https://10.0.0.1:1");
    assert_eq!(target.token.as_deref(), Some("enc_api_file"));
    assert_eq!(target.ca_origin, Origin::File(file));

    let target = resolve(&args(None, Some("enc_api_flag"), Some("my/ca.pem")), &paths).expect("ok");
    assert_eq!(target.api, "https://127.0.0.11:7511");
    assert_eq!(target.token.as_deref(), Some("enc_api_flag"));
    assert_eq!(target.token_origin, Some(Origin::Argument));
    // A CA given as a flag stays relative to the working directory, like any path argument.
    assert_eq!(target.ca, PathBuf::from("my/ca.pem"));
    assert_eq!(target.ca_origin, Origin::Argument);
}

#[test]
fn absolute_ca_in_the_file_is_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(
        dir.path(),
        "cli.toml",
        "api = \"h:1\"\nca = \"/etc/encluster/ca.pem\"\n",
    );
    let target = resolve(&args(None, None, None), &[file]).expect("resolves");
    assert_eq!(target.ca, PathBuf::from("/etc/encluster/ca.pem"));
    assert_eq!(target.token, None);
}

#[test]
fn first_existing_default_file_wins() {
    let dir = tempfile::tempdir().expect("temp dir");
    let user = dir.path().join("user/cli.toml");
    let system = write(
        dir.path(),
        "etc/cli.toml",
        "api = \"system:1\"\nca = \"ca.pem\"\n",
    );
    let paths = [user.clone(), system];
    let target = resolve(&args(None, None, None), &paths).expect("system file used");
    assert_eq!(target.api, "https://system:1");
    write(
        dir.path(),
        "user/cli.toml",
        "api = \"user:1\"\nca = \"ca.pem\"\n",
    );
    let target = resolve(&args(None, None, None), &paths).expect("user file used");
    assert_eq!(target.api, "https://user:1");
}

#[test]
fn complete_flags_never_read_default_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = write(dir.path(), "cli.toml", "this is not toml");
    let target = resolve(&args(Some("h:1"), Some("t"), Some("ca.pem")), &[broken]).expect("ok");
    assert_eq!(target.api, "https://h:1");
}

#[test]
fn explicit_config_file_must_exist() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut api_args = args(Some("h:1"), Some("t"), Some("ca.pem"));
    api_args.cli_config = Some(dir.path().join("missing.toml"));
    let error = resolve(&api_args, &[]).expect_err("missing file");
    expect![[r#"
        the CLI config file named by --cli-config / ENCLUSTER_CLI_CONFIG is unusable:
        cannot open the CLI config file $DIR/missing.toml: No such file or directory (os
        error 2)"#]]
    .assert_eq(&wrapped_error(error, dir.path()));
}

#[test]
fn explicit_config_file_is_used_instead_of_defaults() {
    let dir = tempfile::tempdir().expect("temp dir");
    let default = write(
        dir.path(),
        "default.toml",
        "api = \"default:1\"\nca = \"ca.pem\"\n",
    );
    let named = write(
        dir.path(),
        "sub/named.toml",
        "api = \"named:1\"\nca = \"ca.pem\"\n",
    );
    let mut api_args = args(None, None, None);
    api_args.cli_config = Some(named);
    let target = resolve(&api_args, &[default]).expect("resolves");
    assert_eq!(target.api, "https://named:1");
    assert_eq!(target.ca, dir.path().join("sub/ca.pem"));
}

#[test]
fn missing_api_names_flag_env_and_config_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = [
        dir.path().join("user/cli.toml"),
        dir.path().join("etc/cli.toml"),
    ];
    let error = resolve(&args(None, Some("t"), Some("ca.pem")), &paths).expect_err("no api");
    expect![[r#"
        no encluster API address given: pass --api https://HOST:PORT, set ENCLUSTER_API,
        or put apis = ["https://HOST:PORT", ...] in a CLI config file (--cli-config /
        ENCLUSTER_CLI_CONFIG; `encluster init` writes one); no CLI config file was found
        (looked at $DIR/user/cli.toml, $DIR/etc/cli.toml)"#]]
    .assert_eq(&wrapped_error(error, dir.path()));

    let file = write(dir.path(), "cli.toml", "token = \"t\"\n");
    let error = resolve(&args(None, None, None), &[file]).expect_err("no api in file");
    let text = error_text(error, dir.path());
    assert!(
        text.ends_with("; $DIR/cli.toml has no `apis` (nor `api`)"),
        "{text}"
    );
}

#[test]
fn missing_ca_names_flag_env_and_config_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "cli.toml", "api = \"h:1\"\n");
    let error = resolve(&args(None, None, None), &[file]).expect_err("no ca");
    expect![[r#"
        no cluster CA given, so the API's certificate cannot be checked: pass --ca
        FILE.pem, set ENCLUSTER_CA, or put ca = "ca.pem" in the CLI config file;
        $DIR/cli.toml has no `ca`"#]]
    .assert_eq(&wrapped_error(error, dir.path()));
}

#[test]
fn invalid_config_file_is_named_with_the_expected_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "cli.toml", "api = \"h:1\"\ntokn = \"typo\"\n");
    let error = resolve(&args(None, None, None), &[file]).expect_err("unknown field");
    let text = error_text(error, dir.path());
    assert!(
        text.starts_with("the CLI config file $DIR/cli.toml is not valid: "),
        "{text}"
    );
    assert!(text.contains("tokn"), "{text}");
    assert!(text.ends_with(
        "expected apis = [\"https://HOST:PORT\", ...] (or api = \"https://HOST:PORT\"), \
         token = \"...\", ca = \"ca.pem\""
    ));
}

#[test]
fn oversized_config_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!("api = \"h:1\"\n#{}\n", "x".repeat(70_000));
    let file = write(dir.path(), "cli.toml", &text);
    let error = resolve(&args(None, None, None), &[file]).expect_err("too big");
    let text = error_text(error, dir.path());
    assert!(
        text.contains("$DIR/cli.toml is larger than 65536 bytes"),
        "{text}"
    );
}

#[test]
fn config_file_format_is_api_token_ca() {
    let parsed = parse_config_file(FULL_FILE).expect("valid");
    let expected = CliConfigFile {
        api: Some("127.0.0.11:7511".to_string()),
        apis: Vec::new(),
        token: Some("enc_api_file".to_string()),
        ca: Some(PathBuf::from("ca.pem")),
    };
    assert_eq!(parsed, expected);
    assert_eq!(
        parse_config_file("").expect("empty is valid"),
        CliConfigFile::default()
    );
}

#[test]
fn api_address_gets_https_and_loses_trailing_slashes() {
    let normalized = |api: &str| normalize_api(api).map_err(|error| error.to_string());
    assert_eq!(
        normalized("127.0.0.11:7511"),
        Ok("https://127.0.0.11:7511".to_string())
    );
    assert_eq!(normalized(" https://h:1// "), Ok("https://h:1".to_string()));
    assert_eq!(
        normalized("[::1]:7511"),
        Ok("https://[::1]:7511".to_string())
    );
    expect![[r#"
        Err("the API address \"http://h:1\" must be https://HOST:PORT (or HOST:PORT):
        the agent serves its API over TLS only")"#]]
    .assert_eq(&super::wrap(&format!("{:?}", normalized("http://h:1"))));
    assert!(normalized("https://").is_err());
    assert!(normalized("  ").is_err());
}

#[test]
fn empty_flag_values_count_as_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "cli.toml", FULL_FILE);
    let target = resolve(&args(Some(""), Some(" "), Some("")), &[file]).expect("file fills in");
    assert_eq!(target.api, "https://127.0.0.11:7511");
    assert_eq!(target.token.as_deref(), Some("enc_api_file"));
}

#[test]
fn default_paths_follow_xdg_then_home_then_etc() {
    let paths = |xdg: Option<&str>, home: Option<&str>| {
        let paths = default_config_paths(xdg.map(AsRef::as_ref), home.map(AsRef::as_ref));
        paths
            .iter()
            .map(|path| path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    assert_eq!(
        paths(Some("/x"), Some("/home/u")),
        "/x/encluster/cli.toml, /etc/encluster/cli.toml"
    );
    assert_eq!(
        paths(None, Some("/home/u")),
        "/home/u/.config/encluster/cli.toml, /etc/encluster/cli.toml"
    );
    // The XDG spec says a relative or empty XDG_CONFIG_HOME is ignored.
    assert_eq!(
        paths(Some("rel"), Some("/home/u")),
        "/home/u/.config/encluster/cli.toml, /etc/encluster/cli.toml"
    );
    assert_eq!(paths(Some(""), None), "/etc/encluster/cli.toml");
}

#[test]
fn missing_ca_file_is_named_with_where_it_came_from() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "cli.toml", FULL_FILE);
    let target = resolve(&args(None, None, None), &[file]).expect("resolves");
    let error = crate::config::client_for(&target)
        .err()
        .expect("no CA file");
    expect![[r#"
        cannot read the cluster CA file $DIR/ca.pem: check `ca` in $DIR/cli.toml: No
        such file or directory (os error 2)"#]]
    .assert_eq(&wrapped_error(error, dir.path()));
}

#[test]
fn ca_file_that_is_not_pem_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = write(dir.path(), "ca.pem", "not a certificate");
    let ca = ca.to_str().expect("utf-8 temp path");
    let target = resolve(&args(Some("h:1"), Some("t"), Some(ca)), &[]).expect("resolves");
    let error = crate::config::client_for(&target).err().expect("bad CA");
    let text = error_text(error, dir.path());
    assert!(
        text.starts_with("the cluster CA file $DIR/ca.pem is not usable: check --ca"),
        "{text}"
    );
}

#[test]
fn new_format_lists_every_address_in_order_without_repeats() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "apis = [\"127.0.0.11:7511\", \"https://127.0.0.12:7511/\", \"127.0.0.11:7511\", \
                \"127.0.0.13:7511\"]\ntoken = \"t\"\nca = \"ca.pem\"\n";
    let file = write(dir.path(), "cli.toml", text);
    let target = resolve(&args(None, None, None), &[file]).expect("resolves");
    assert_eq!(target.api, "https://127.0.0.11:7511");
    assert_eq!(
        target.apis,
        [
            "https://127.0.0.11:7511",
            "https://127.0.0.12:7511",
            "https://127.0.0.13:7511"
        ]
    );
}

#[test]
fn old_single_api_and_new_list_together_try_api_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "api = \"127.0.0.12:7511\"\napis = [\"127.0.0.11:7511\", \"127.0.0.12:7511\"]\n\
                ca = \"ca.pem\"\n";
    let file = write(dir.path(), "cli.toml", text);
    let target = resolve(&args(None, None, None), &[file]).expect("resolves");
    assert_eq!(
        target.apis,
        ["https://127.0.0.12:7511", "https://127.0.0.11:7511"]
    );
    // The old format alone still works: one address.
    let file = write(dir.path(), "old.toml", FULL_FILE);
    let target = resolve(&args(None, None, None), &[file]).expect("resolves");
    assert_eq!(target.apis, ["https://127.0.0.11:7511"]);
}

#[test]
fn api_flag_replaces_the_file_list_and_a_bad_list_entry_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "apis = [\"127.0.0.11:7511\", \"127.0.0.12:7511\"]\nca = \"ca.pem\"\n";
    let file = write(dir.path(), "cli.toml", text);
    let target = resolve(&args(Some("10.0.0.1:1"), None, None), &[file]).expect("resolves");
    assert_eq!(target.apis, ["https://10.0.0.1:1"]);

    let text = "apis = [\"127.0.0.11:7511\", \"http://127.0.0.12:7511\"]\nca = \"ca.pem\"\n";
    let file = write(dir.path(), "bad.toml", text);
    let error = resolve(&args(None, None, None), &[file]).expect_err("http refused");
    let text = error_text(error, dir.path());
    assert!(text.starts_with("fix `apis` in $DIR/bad.toml: "), "{text}");
    assert!(text.contains("must be https://HOST:PORT"), "{text}");
}
