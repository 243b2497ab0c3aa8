//! The command line of `resource`, `group` and `constraint`, and the pure functions that turn
//! it into API requests: `--param K=V` parsing, durations, scores, and building or merging a
//! `ResourceSpec`.

use std::time::Duration;

use anyhow::bail;

use crate::limits::WAIT_TIMEOUT_DEFAULT;

/// `encluster resource ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ResourceCommand {
    /// Create a resource; its parameters are checked against its type's schema.
    Create {
        /// The resource's name, unique in the cluster.
        name: String,
        /// Its type: a built-in `process`, `vip` or `lb`, or an OCF agent
        /// `ocf:<provider>:<agent>` (e.g. ocf:heartbeat:Dummy); `encluster type list` shows
        /// every type and `encluster type show TYPE` its parameters.
        #[arg(long = "type", value_name = "TYPE")]
        type_name: String,
        /// Boxed: the options are most of a command's size.
        #[command(flatten)]
        options: Box<ResourceOptionArgs>,
    },
    /// Change a resource: only the options given change, --param merges into the parameters.
    Update {
        /// The resource's name.
        name: String,
        /// A new type.
        #[arg(long = "type", value_name = "TYPE")]
        type_name: Option<String>,
        /// Boxed: the options are most of a command's size.
        #[command(flatten)]
        options: Box<ResourceOptionArgs>,
        /// Remove this parameter (repeatable).
        #[arg(long, value_name = "KEY")]
        unset_param: Vec<String>,
        /// Say what the update would do to running instances (restart, reload, nothing
        /// until the next start) and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete a resource (it is stopped first).
    Delete {
        /// The resource's name.
        name: String,
    },
    /// Show a resource's configuration and its state on every node.
    Show {
        /// The resource's name.
        name: String,
        /// Print the API's JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// List every resource with its state, node, fail count and last failure.
    List {
        /// Print the API's JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Move a resource to a node, or away from where it runs; the preference replaces its
    /// earlier move and lasts until `--for` expires or `move --clear`.
    Move {
        /// The resource's name.
        name: String,
        #[command(flatten)]
        target: MoveArgs,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Let a stopped resource run again (target role started).
    Start {
        /// The resource's name.
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Stop a resource and keep it stopped (target role stopped).
    Stop {
        /// The resource's name.
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Forget a resource's fail counts and failures, so it may run where it failed.
    Cleanup {
        /// The resource's name.
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Keep a resource (or group) off a node, until `--for` expires or `resource clear`.
    Ban {
        /// The resource's (or group's) name.
        name: String,
        /// The node to keep it off, by id or name.
        #[arg(long, value_name = "NODE")]
        node: String,
        /// How long the ban lasts, e.g. 10m; without it, until cleared.
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration_text)]
        for_duration: Option<String>,
    },
    /// Remove the moves and bans of a resource (or group), so the scheduler places it
    /// freely again (pcs `resource clear`).
    Clear {
        /// The resource's (or group's) name.
        name: String,
        /// Only the move or ban naming this node.
        #[arg(long, value_name = "NODE")]
        node: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Leave a resource alone: it stays where it runs and is never started, stopped or
    /// recovered (Pacemaker's is-managed=false), until `resource manage`.
    Unmanage {
        /// The resource's name.
        name: String,
    },
    /// Manage an unmanaged resource again.
    Manage {
        /// The resource's name.
        name: String,
    },
    /// The operation log: starts, stops and failed monitors with node, fencing token and
    /// times, oldest first; of one resource or of all.
    Log {
        /// Only this resource's operations.
        name: Option<String>,
        /// Print the API's JSON instead.
        #[arg(long)]
        json: bool,
        /// Read the answering node's own replica (works without a master; may lag).
        #[arg(long)]
        stale: bool,
    },
}

/// The options shared by `resource create` and `resource update`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ResourceOptionArgs {
    /// A parameter of the resource type, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub param: Vec<(String, String)>,
    /// At most one instance cluster-wide (the default for a new resource).
    #[arg(long, conflicts_with_all = ["clone", "promotable"])]
    pub unique: bool,
    /// One instance on every eligible node instead.
    #[arg(long)]
    pub clone: bool,
    /// The most clone instances.
    #[arg(long, value_name = "N", requires = "clone")]
    pub clone_max: Option<u32>,
    /// A promotable clone: instances on every eligible node, at most --promoted-max of
    /// them promoted (OCF promote/demote, promotion scores from crm_attribute).
    #[arg(long)]
    pub promotable: bool,
    /// The most instances promoted at once (default 1).
    #[arg(long, value_name = "N", requires = "promotable")]
    pub promoted_max: Option<u32>,
    /// How often the monitor runs, e.g. 10s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_text)]
    pub monitor_interval: Option<String>,
    /// How long a monitor may take.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_text)]
    pub monitor_timeout: Option<String>,
    /// How long a start may take.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_text)]
    pub start_timeout: Option<String>,
    /// How long a stop may take before the process is killed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_text)]
    pub stop_timeout: Option<String>,
    /// Preference for staying where it runs (negative values allowed).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub stickiness: Option<i64>,
    /// Failures on one node after which it moves away (0 = never).
    #[arg(long, value_name = "N")]
    pub migration_threshold: Option<u32>,
    /// Fail counts older than this expire, e.g. 10m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_text)]
    pub failure_timeout: Option<String>,
    /// On a planned stop (move, standby), keep the instance running this long while load
    /// balancers drain it, e.g. 5s (0s: stop at once).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_text)]
    pub drain: Option<String>,
    /// How much of a node capacity one instance uses, KEY=N (repeatable).
    #[arg(long, value_name = "KEY=N", value_parser = parse_utilization)]
    pub utilization: Vec<(String, u64)>,
    /// Keep it stopped (target role stopped).
    #[arg(long, conflicts_with = "started")]
    pub stopped: bool,
    /// Let it run (target role started).
    #[arg(long)]
    pub started: bool,
}

/// Where `move` sends a resource or group.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MoveArgs {
    /// The target node, by id or name; without it, away from where it runs now.
    #[arg(long, value_name = "NODE")]
    pub to: Option<String>,
    /// How long the preference lasts, e.g. 10m; without it, until `move --clear`.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration_text)]
    pub for_duration: Option<String>,
    /// Remove the move's preference now, before it expires; the scheduler then places it
    /// where it would anyway.
    #[arg(long, conflicts_with_all = ["to", "for_duration"])]
    pub clear: bool,
}

/// `--wait` and its `--timeout`.
#[derive(clap::Args, Debug, Clone)]
pub struct WaitArgs {
    /// Wait until it is done, showing progress.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits before giving up with a non-zero exit.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        value_parser = parse_duration_value
    )]
    pub timeout: Duration,
}

impl Default for WaitArgs {
    fn default() -> WaitArgs {
        WaitArgs {
            wait: false,
            timeout: WAIT_TIMEOUT_DEFAULT,
        }
    }
}

/// `encluster group ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum GroupCommand {
    /// Create a group: members run together, start in this order and stop in reverse.
    Create {
        /// The group's name.
        name: String,
        /// The member resources, in start order.
        #[arg(required = true, value_name = "MEMBER")]
        members: Vec<String>,
    },
    /// Change a group in place: its members and their order. Members that stay keep
    /// running; an added member starts after the members before it, and a running member
    /// placed after one that starts is restarted after it (as for any order).
    Update {
        /// The group's name.
        name: String,
        /// The new members, in start order; they replace the current ones.
        #[arg(value_name = "MEMBER", conflicts_with_all = ["add", "remove"])]
        members: Vec<String>,
        /// Add a member at the end (repeatable), as `pcs resource group add` does.
        #[arg(long, value_name = "MEMBER")]
        add: Vec<String>,
        /// Take a member out of the group (repeatable); it stays as a resource.
        #[arg(long, value_name = "MEMBER")]
        remove: Vec<String>,
    },
    /// Delete a group (its members stay, no longer tied together).
    Delete {
        /// The group's name.
        name: String,
    },
    /// Move every member of a group together; replaces the group's earlier move.
    Move {
        /// The group's name.
        name: String,
        #[command(flatten)]
        target: MoveArgs,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// `encluster constraint ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ConstraintCommand {
    /// Add a constraint.
    #[command(subcommand)]
    Add(ConstraintAdd),
    /// List every constraint, and every move and ban, with its id and expiry.
    List {
        /// Print the API's JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Replace a declared constraint in place, by the id `constraint list` shows:
    /// `constraint update order-db-web-mandatory order db web --optional`.
    Update {
        /// The constraint's id, e.g. location-db-2-INFINITY.
        id: String,
        /// The constraint that replaces it, written as for `constraint add`.
        #[command(subcommand)]
        constraint: ConstraintAdd,
    },
    /// Remove a constraint, move or ban by the id `constraint list` shows.
    Remove {
        /// The constraint's id, e.g. location-db-2-INFINITY or cli-ban-db-on-3.
        id: String,
    },
}

/// `encluster constraint add ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ConstraintAdd {
    /// Start FIRST before THEN, and stop THEN before FIRST.
    Order {
        /// Started first.
        first: String,
        /// Started after FIRST.
        then: String,
        /// Only order them when both change at once; never stop THEN because FIRST stopped.
        #[arg(long)]
        optional: bool,
    },
    /// Place RESOURCE where WITH runs (positive score) or away from it (negative score).
    Colocation {
        /// The resource placed.
        resource: String,
        /// The resource it follows or avoids.
        with: String,
        /// A number, INFINITY (must) or -INFINITY (must not).
        #[arg(allow_hyphen_values = true, value_parser = parse_score)]
        score: String,
    },
    /// Prefer (positive), avoid (negative) or ban (-INFINITY) a node for RESOURCE.
    Location {
        /// The resource.
        resource: String,
        /// The node, by id or name.
        node: String,
        /// A number, INFINITY or -INFINITY.
        #[arg(allow_hyphen_values = true, value_parser = parse_score)]
        score: String,
    },
}

/// Parses `KEY=VALUE`; the value may be empty or contain `=`.
pub(crate) fn parse_key_value(text: &str) -> Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "expected KEY=VALUE, like port=8080, but {text:?} has no `=`"
        ));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!(
            "expected KEY=VALUE, but {text:?} has no key before `=`"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

fn parse_utilization(text: &str) -> Result<(String, u64), String> {
    let (key, value) = parse_key_value(text)?;
    let amount = value.trim().parse::<u64>().map_err(|_| {
        format!("expected KEY=N with a whole number, like memory=512, but got {text:?}")
    })?;
    Ok((key, amount))
}

/// Checks a duration like `10s`, `500ms`, `10minutes` or `1h 30m` with the parser the
/// server uses (`model::parse_duration_text`), so both accept and refuse the same text
/// with the same message, and keeps the operator's text.
pub(crate) fn parse_duration_text(text: &str) -> Result<String, String> {
    match model::parse_duration_text(text) {
        Ok(_) => Ok(text.trim().to_string()),
        Err(invalid) => Err(invalid.to_string()),
    }
}

/// A duration the CLI itself uses (`--timeout`), parsed like every other.
pub(crate) fn parse_duration_value(text: &str) -> Result<Duration, String> {
    model::parse_duration_text(text).map_err(|invalid| invalid.to_string())
}

/// A placement score: a whole number or `INFINITY` / `-INFINITY` (any case).
pub(crate) fn parse_score(text: &str) -> Result<String, String> {
    let text = text.trim();
    let upper = text.to_ascii_uppercase();
    match upper.as_str() {
        "INFINITY" | "+INFINITY" | "INF" => Ok("INFINITY".to_string()),
        "-INFINITY" | "-INF" => Ok("-INFINITY".to_string()),
        _ => match text.parse::<i64>() {
            Ok(score) => Ok(score.to_string()),
            Err(_) => Err(format!(
                "{text:?} is not a score: use a whole number, INFINITY or -INFINITY"
            )),
        },
    }
}

/// The spec of a new resource from `resource create`.
pub(crate) fn new_spec(
    name: &str,
    type_name: &str,
    options: &ResourceOptionArgs,
) -> api::ResourceSpec {
    let mut spec = api::ResourceSpec {
        name: name.to_string(),
        type_name: type_name.to_string(),
        ..api::ResourceSpec::default()
    };
    apply_options(&mut spec, options);
    spec
}

/// Changes `spec` as `resource update` asks: given options replace, `--param` merges,
/// `--unset-param` removes (an unknown key is an error, as it is most likely a typo).
pub(crate) fn update_spec(
    mut spec: api::ResourceSpec,
    type_name: Option<&str>,
    options: &ResourceOptionArgs,
    unset_params: &[String],
) -> anyhow::Result<api::ResourceSpec> {
    for key in unset_params {
        if spec.params.remove(key).is_none() {
            let known: Vec<&str> = spec.params.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "it has none".to_string()
            } else {
                format!("it has {}", known.join(", "))
            };
            bail!(
                "--unset-param {key}: resource {} has no parameter {key} ({known})",
                spec.name
            );
        }
    }
    if let Some(type_name) = type_name {
        spec.type_name = type_name.to_string();
    }
    apply_options(&mut spec, options);
    Ok(spec)
}

fn apply_options(spec: &mut api::ResourceSpec, options: &ResourceOptionArgs) {
    for (key, value) in &options.param {
        spec.params.insert(key.clone(), value.clone());
    }
    for (key, amount) in &options.utilization {
        spec.utilization.insert(key.clone(), *amount);
    }
    if options.unique {
        spec.unique = Some(true);
        spec.clone = false;
        spec.clone_max = None;
        spec.promoted_max = None;
    }
    if options.promotable {
        spec.unique = Some(false);
        spec.clone = true;
        spec.promoted_max = options.promoted_max.or(spec.promoted_max).or(Some(1));
    }
    if options.clone {
        // A clone is never unique; saying so keeps an updated former singleton consistent.
        spec.unique = Some(false);
        spec.clone = true;
        spec.clone_max = options.clone_max.or(spec.clone_max);
    }
    let set = |field: &mut Option<String>, value: &Option<String>| {
        if value.is_some() {
            field.clone_from(value);
        }
    };
    set(&mut spec.monitor_interval, &options.monitor_interval);
    set(&mut spec.monitor_timeout, &options.monitor_timeout);
    set(&mut spec.start_timeout, &options.start_timeout);
    set(&mut spec.stop_timeout, &options.stop_timeout);
    set(&mut spec.failure_timeout, &options.failure_timeout);
    set(&mut spec.drain, &options.drain);
    if options.stickiness.is_some() {
        spec.stickiness = options.stickiness;
    }
    if options.migration_threshold.is_some() {
        spec.migration_threshold = options.migration_threshold;
    }
    if options.stopped {
        spec.target_role = Some("stopped".to_string());
    }
    if options.started {
        spec.target_role = Some("started".to_string());
    }
}

/// The request body of `resource move` and `group move`, with the node already resolved.
pub(crate) fn move_request(
    to: Option<u64>,
    for_duration: Option<&str>,
    clear: bool,
) -> api::MoveRequest {
    api::MoveRequest {
        to,
        for_duration: for_duration.map(str::to_string),
        clear,
    }
}

/// The constraint `constraint add ...` sends, with its node already resolved to an id.
pub(crate) fn constraint_spec(add: &ConstraintAdd, node: Option<u64>) -> api::ConstraintSpec {
    match add {
        ConstraintAdd::Order {
            first,
            then,
            optional,
        } => api::ConstraintSpec::Order {
            first: first.clone(),
            then: then.clone(),
            kind: optional.then(|| "optional".to_string()),
        },
        ConstraintAdd::Colocation {
            resource,
            with,
            score,
        } => api::ConstraintSpec::Colocation {
            resource: resource.clone(),
            with: with.clone(),
            score: score.clone(),
        },
        ConstraintAdd::Location {
            resource, score, ..
        } => api::ConstraintSpec::Location {
            resource: resource.clone(),
            node: node.expect("the caller resolves the node of a location constraint"),
            score: score.clone(),
        },
    }
}

/// Finds a node by name or id in the node list, with the parser the server uses too.
pub(crate) fn resolve_node(text: &str, nodes: &[api::NodeStatus]) -> anyhow::Result<u64> {
    let named = nodes
        .iter()
        .map(|node| (model::NodeId(node.id), node.name.as_str()));
    match model::resolve_node(text, named) {
        Ok(id) => Ok(id.0),
        Err(unknown) => bail!("{unknown}"),
    }
}
