//! Finding the API: flags and environment variables (merged by clap), then the CLI config file.
//!
//! Resolution is a pure function of the parsed arguments and the candidate config file paths,
//! so tests exercise it without touching the process environment.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::ApiArgs;
use crate::limits::CLI_CONFIG_BYTES_MAX;

/// The system-wide CLI config file, looked at after the user's own.
const SYSTEM_CONFIG_PATH: &str = "/etc/encluster/cli.toml";

/// The CLI config file written by `encluster init`.
#[derive(Deserialize, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct CliConfigFile {
    /// The API address, like `--api` (the format before `apis`; still read).
    pub(crate) api: Option<String>,
    /// Every node's API address: the CLI tries them in order, the next when one cannot be
    /// reached. `api`, when also given, is tried first.
    #[serde(default)]
    pub(crate) apis: Vec<String>,
    /// The API token, like `--token`.
    pub(crate) token: Option<String>,
    /// The cluster CA's PEM file, relative to the config file's directory or absolute.
    pub(crate) ca: Option<PathBuf>,
}

/// Where a setting came from, so an error can tell the operator what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A flag or its environment variable (clap merges the two).
    Argument,
    /// The CLI config file at this path.
    File(PathBuf),
}

/// Everything needed to build an `api::Client`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The API base URL, always `https://...` without a trailing slash.
    pub(crate) api: String,
    /// Every address to try, `api` first, each normalised like it; only `api` when the
    /// address came from a flag or the environment.
    pub(crate) apis: Vec<String>,
    pub(crate) token: Option<String>,
    pub(crate) token_origin: Option<Origin>,
    /// The cluster CA's PEM file, already resolved against the config file's directory.
    pub(crate) ca: PathBuf,
    pub(crate) ca_origin: Origin,
}

/// Resolves the target from the process environment and builds a client for it.
///
/// Flags win over environment variables (clap), and both win over the CLI config file:
/// `--cli-config`/`ENCLUSTER_CLI_CONFIG`, else `$XDG_CONFIG_HOME/encluster/cli.toml` (or
/// `~/.config/encluster/cli.toml`), else `/etc/encluster/cli.toml`.
pub fn connect(api: &ApiArgs) -> anyhow::Result<api::Client> {
    connect_target(api).map(|(client, _target)| client)
}

pub(crate) fn connect_target(args: &ApiArgs) -> anyhow::Result<(api::Client, Target)> {
    let paths = default_config_paths(
        std::env::var_os("XDG_CONFIG_HOME").as_deref(),
        std::env::var_os("HOME").as_deref(),
    );
    let target = resolve(args, &paths)?;
    let client = client_for(&target)?;
    Ok((client, target))
}

/// The config files looked at, in order, when none is named explicitly.
pub(crate) fn default_config_paths(
    xdg_config_home: Option<&OsStr>,
    home: Option<&OsStr>,
) -> Vec<PathBuf> {
    let non_empty =
        |value: Option<&OsStr>| value.filter(|value| !value.is_empty()).map(PathBuf::from);
    // The XDG base directory spec says to ignore a relative XDG_CONFIG_HOME.
    let user_dir = match non_empty(xdg_config_home).filter(|dir| dir.is_absolute()) {
        Some(dir) => Some(dir),
        None => non_empty(home).map(|home| home.join(".config")),
    };
    let mut paths: Vec<PathBuf> = user_dir
        .map(|dir| dir.join("encluster").join("cli.toml"))
        .into_iter()
        .collect();
    paths.push(PathBuf::from(SYSTEM_CONFIG_PATH));
    paths
}

/// Merges the arguments (flags or environment) with the CLI config file.
///
/// An explicitly named config file must exist; the default ones are read only when the
/// arguments leave something out, and only the first that exists.
pub(crate) fn resolve(args: &ApiArgs, default_paths: &[PathBuf]) -> anyhow::Result<Target> {
    let arg_api = args
        .api
        .as_deref()
        .map(str::trim)
        .filter(|api| !api.is_empty());
    let arg_token = args
        .token
        .as_deref()
        .map(str::trim)
        .filter(|token| !token.is_empty());
    let arg_ca = args.ca.as_deref().filter(|ca| !ca.as_os_str().is_empty());
    let complete = arg_api.is_some() && arg_token.is_some() && arg_ca.is_some();
    let file = match &args.cli_config {
        Some(path) => Some((
            path.clone(),
            load_config_file(path).context(
                "the CLI config file named by --cli-config / ENCLUSTER_CLI_CONFIG is unusable",
            )?,
        )),
        None if complete => None,
        None => load_first_existing(default_paths)?,
    };
    let (file_path, file) = match file {
        Some((path, file)) => (Some(path), file),
        None => (None, CliConfigFile::default()),
    };
    let file_origin = || Origin::File(file_path.clone().expect("a file value has a file path"));

    let apis = match arg_api {
        Some(api) => vec![normalize_api(api).context("fix --api / ENCLUSTER_API")?],
        None => file_apis(&file, file_path.as_deref())?,
    };
    let Some(api) = apis.first().cloned() else {
        bail!(
            "{}",
            missing_api_message(file_path.as_deref(), default_paths)
        );
    };
    let (ca, ca_origin) = match (arg_ca, file.ca) {
        (Some(ca), _) => (ca.to_path_buf(), Origin::Argument),
        (None, Some(ca)) => (relative_to_file(&ca, file_path.as_deref()), file_origin()),
        (None, None) => bail!("{}", missing_ca_message(file_path.as_deref())),
    };
    let (token, token_origin) = match (arg_token, file.token) {
        (Some(token), _) => (Some(token.to_string()), Some(Origin::Argument)),
        (None, Some(token)) if !token.trim().is_empty() => {
            (Some(token.trim().to_string()), Some(file_origin()))
        }
        (None, _) => (None, None),
    };
    Ok(Target {
        api,
        apis,
        token,
        token_origin,
        ca,
        ca_origin,
    })
}

/// The file's addresses, `api` first then `apis`, normalised, without repeats.
fn file_apis(file: &CliConfigFile, file_path: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let mut apis: Vec<String> = Vec::new();
    let given = file.api.iter().map(|api| ("api", api));
    for (key, api) in given.chain(file.apis.iter().map(|api| ("apis", api))) {
        let api = normalize_api(api).with_context(|| match file_path {
            Some(path) => format!("fix `{key}` in {}", path.display()),
            None => format!("fix `{key}`"),
        })?;
        if !apis.contains(&api) {
            apis.push(api);
        }
    }
    Ok(apis)
}

/// Turns `host:port` into `https://host:port` and refuses other schemes: the agent serves
/// its API over TLS only, so plain HTTP would fail with a confusing protocol error.
pub(crate) fn normalize_api(api: &str) -> anyhow::Result<String> {
    let api = api.trim();
    let (scheme, rest) = api.split_once("://").unwrap_or(("https", api));
    let rest = rest.trim_end_matches('/');
    if scheme != "https" {
        bail!(
            "the API address {api:?} must be https://HOST:PORT (or HOST:PORT): \
            the agent serves its API over TLS only"
        );
    }
    if rest.is_empty() {
        bail!("the API address {api:?} has no host: give it as https://HOST:PORT");
    }
    Ok(format!("https://{rest}"))
}

fn relative_to_file(path: &Path, file_path: Option<&Path>) -> PathBuf {
    let dir = file_path.and_then(Path::parent);
    match dir {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

fn load_first_existing(paths: &[PathBuf]) -> anyhow::Result<Option<(PathBuf, CliConfigFile)>> {
    let Some(path) = paths.iter().find(|path| path.exists()) else {
        return Ok(None);
    };
    let file = load_config_file(path)?;
    Ok(Some((path.clone(), file)))
}

/// Reads and parses one CLI config file, with a size cap because it is input.
pub(crate) fn load_config_file(path: &Path) -> anyhow::Result<CliConfigFile> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the CLI config file {}", path.display()))?;
    let mut text = String::new();
    file.take(CLI_CONFIG_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read the CLI config file {}", path.display()))?;
    if text.len() as u64 > CLI_CONFIG_BYTES_MAX {
        bail!(
            "the CLI config file {} is larger than {CLI_CONFIG_BYTES_MAX} bytes; \
            it should hold only apis, token and ca",
            path.display()
        );
    }
    parse_config_file(&text)
        .with_context(|| format!("the CLI config file {} is not valid", path.display()))
}

pub(crate) fn parse_config_file(text: &str) -> anyhow::Result<CliConfigFile> {
    toml::from_str(text).map_err(|error| {
        anyhow::anyhow!(
            "{}; expected apis = [\"https://HOST:PORT\", ...] (or api = \"https://HOST:PORT\"), \
            token = \"...\", ca = \"ca.pem\"",
            error.message()
        )
    })
}

fn missing_api_message(file_path: Option<&Path>, default_paths: &[PathBuf]) -> String {
    let searched = match file_path {
        Some(path) => format!("{} has no `apis` (nor `api`)", path.display()),
        None if default_paths.is_empty() => "no CLI config file was found".to_string(),
        None => {
            let paths: Vec<String> = default_paths
                .iter()
                .map(|path| path.display().to_string())
                .collect();
            format!(
                "no CLI config file was found (looked at {})",
                paths.join(", ")
            )
        }
    };
    format!(
        "no encluster API address given: pass --api https://HOST:PORT, \
        set ENCLUSTER_API, or put apis = [\"https://HOST:PORT\", ...] in a CLI config file \
        (--cli-config / ENCLUSTER_CLI_CONFIG; `encluster init` writes one); {searched}"
    )
}

fn missing_ca_message(file_path: Option<&Path>) -> String {
    let file = match file_path {
        Some(path) => format!("{} has no `ca`", path.display()),
        None => "no CLI config file was found".to_string(),
    };
    format!(
        "no cluster CA given, so the API's certificate cannot be checked: pass --ca FILE.pem, \
        set ENCLUSTER_CA, or put ca = \"ca.pem\" in the CLI config file; {file}"
    )
}

/// Reads the CA file and builds a client that trusts only it.
pub(crate) fn client_for(target: &Target) -> anyhow::Result<api::Client> {
    let fix = match &target.ca_origin {
        Origin::Argument => "check --ca / ENCLUSTER_CA".to_string(),
        Origin::File(path) => format!("check `ca` in {}", path.display()),
    };
    let ca_pem = std::fs::read_to_string(&target.ca).with_context(|| {
        format!(
            "cannot read the cluster CA file {}: {fix}",
            target.ca.display()
        )
    })?;
    let tls = auth::client_config(&ca_pem, None).with_context(|| {
        format!(
            "the cluster CA file {} is not usable: {fix}",
            target.ca.display()
        )
    })?;
    Ok(api::Client::with_fallbacks(
        &target.apis,
        tls,
        target.token.clone(),
    ))
}
