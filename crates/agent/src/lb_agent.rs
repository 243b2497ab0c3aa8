//! The `lb` resource type: one virtual service on this node's load-balancer data plane.
//!
//! A node runs an `lb` resource by adding its service to the in-process `lb::Director`;
//! the node that also holds the service's VIP (put both in a group) is its director.
//! A service with several VIPs lists them in `listen` and runs as a clone: each node running
//! it listens on all of them, and each VIP, colocated with the clone and kept apart from the
//! others, makes its holder a director; so several directors are active at once.
//! Parameters are plain strings so the CLI, the API and `apply -f` all share one schema.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lb::{
    Algorithm, Director, DirectorOptions, HealthCheck, HealthCheckKind, LbConfig, Protocol,
    ServerConfig, ServerState, ServiceConfig,
};
use model::{ParamKind, ParamSchema, ParamSpec};
use resource_agents::{BoxFuture, MetaError, OperationRequest, Outcome, ResourceAgent, Severity};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// The `lb` type's parameter schema.
pub fn schema() -> ParamSchema {
    let text = ParamKind::String;
    let algorithms = [
        "round_robin",
        "weighted_round_robin",
        "least_connections",
        "weighted_least_connections",
        "source_hash",
        "maglev",
    ];
    let schema = ParamSchema::new(vec![
        ParamSpec::new(
            "listen",
            text.clone(),
            "address:port the director listens on (the VIP); several, comma-separated, for a \
             service with several VIPs (run it as a clone and colocate each VIP with it)",
        )
        .required(),
        ParamSpec::new(
            "servers",
            text.clone(),
            "real servers, comma-separated: name=host:port, or name=@resource:port for every \
             node where that cluster resource runs (followed as it moves)",
        )
        .required(),
        ParamSpec::new(
            "weights",
            text.clone(),
            "weights: name=N, comma-separated (default 1)",
        )
        .with_default(""),
        ParamSpec::new(
            "draining",
            text.clone(),
            "servers taking no new connections",
        )
        .with_default(""),
        ParamSpec::new("disabled", text.clone(), "servers taking no connections").with_default(""),
        ParamSpec::new(
            "protocol",
            ParamKind::Enum(vec!["tcp".into(), "http".into()]),
            "tcp or http",
        )
        .with_default("tcp"),
        ParamSpec::new(
            "algorithm",
            ParamKind::Enum(algorithms.iter().map(|a| a.to_string()).collect()),
            "how connections are spread",
        )
        .with_default("round_robin"),
        ParamSpec::new(
            "health",
            ParamKind::Enum(vec!["tcp".into(), "http".into()]),
            "check kind",
        )
        .with_default("tcp"),
        ParamSpec::new("health_path", ParamKind::String, "HTTP check path").with_default("/"),
        ParamSpec::new(
            "health_body",
            ParamKind::String,
            "HTTP check: text the response body must contain",
        ),
        ParamSpec::new("health_status", ParamKind::Integer, "expected HTTP status")
            .with_default("200")
            .with_range(Some(100), Some(599)),
        ParamSpec::new("health_interval", ParamKind::Duration, "check interval").with_default("2s"),
        ParamSpec::new("health_timeout", ParamKind::Duration, "check timeout").with_default("1s"),
        ParamSpec::new("rise", ParamKind::Integer, "passes to become healthy")
            .with_default("2")
            .with_range(Some(1), Some(100)),
        ParamSpec::new("fall", ParamKind::Integer, "failures to become unhealthy")
            .with_default("3")
            .with_range(Some(1), Some(100)),
        ParamSpec::new(
            "persistence",
            ParamKind::Duration,
            "client affinity timeout",
        ),
        ParamSpec::new(
            "sorry_server",
            ParamKind::String,
            "host:port used when none is healthy",
        ),
        ParamSpec::new(
            "max_conns",
            ParamKind::Integer,
            "connection limit of the service",
        )
        .with_range(Some(1), Some(1_000_000)),
    ]);
    // A running service follows its resource (`LbAgent::follow`): every parameter applies
    // to the director without restarting the listener, so every change is a reload.
    let params = schema
        .params
        .into_iter()
        .map(ParamSpec::reloadable)
        .collect();
    ParamSchema::new(params).with_reload("reload")
}

fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn pairs(field: &str, text: &str) -> Result<BTreeMap<String, String>, String> {
    list(text)
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("{field}: {item:?} must look like name=value"))
        })
        .collect()
}

fn addr(field: &str, text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{field}: {text:?} is not an address like 127.0.0.1:8080"))
}

/// A running instance of a cluster resource that an `lb` service names as `@resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningInstance {
    /// The node's name.
    pub node: String,
    /// The node's address.
    pub ip: std::net::IpAddr,
    /// Its grant was withdrawn: it is being stopped (after its drain), so it takes no new
    /// connections and its connections in flight finish.
    pub draining: bool,
}

/// Where a cluster resource runs now: each running instance.
pub type Resolver<'a> = &'a dyn Fn(&str) -> Vec<RunningInstance>;

/// The data plane's service for an `lb` resource, checking syntax only: servers given as
/// `@resource:port` are left out (see `resolved_service_config`).
pub fn service_config(name: &str, p: &BTreeMap<String, String>) -> Result<ServiceConfig, String> {
    resolved_service_config(name, p, &|_| Vec::new())
}

/// The data plane's service for an `lb` resource (`name` is the resource's name), with
/// `name=@resource:port` servers expanded to one server per node running that resource,
/// named `name:node`; an instance whose grant was withdrawn is draining.
pub fn resolved_service_config(
    name: &str,
    p: &BTreeMap<String, String>,
    resolve: Resolver<'_>,
) -> Result<ServiceConfig, String> {
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
    let schema = schema();
    let filled = schema.validate(p).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let value = |k: &str| filled.get(k).cloned().unwrap_or_default();
    let weights = pairs("weights", get("weights"))?;
    let draining: Vec<&str> = list(get("draining")).collect();
    let disabled: Vec<&str> = list(get("disabled")).collect();
    let mut servers = Vec::new();
    for (server, target) in pairs("servers", get("servers"))? {
        let weight = match weights.get(&server) {
            Some(w) => w
                .parse()
                .map_err(|_| format!("weights: {server}={w} is not a number"))?,
            None => 1,
        };
        let state = if disabled.contains(&server.as_str()) {
            ServerState::Disabled
        } else if draining.contains(&server.as_str()) {
            ServerState::Draining
        } else {
            ServerState::Active
        };
        if let Some(reference) = target.strip_prefix('@') {
            let (resource, port) = reference.rsplit_once(':').ok_or_else(|| {
                format!("servers: {server}={target} must look like {server}=@resource:port")
            })?;
            let port: u16 = port
                .parse()
                .map_err(|_| format!("servers: {port:?} in {server}={target} is not a port"))?;
            for instance in resolve(resource) {
                let state = match state {
                    ServerState::Active if instance.draining => ServerState::Draining,
                    state => state,
                };
                servers.push(ServerConfig {
                    name: format!("{server}:{}", instance.node),
                    addr: SocketAddr::new(instance.ip, port),
                    weight,
                    state,
                    max_conns: None,
                });
            }
            continue;
        }
        let addr = addr("servers", &target)?;
        servers.push(ServerConfig {
            name: server,
            addr,
            weight,
            state,
            max_conns: None,
        });
    }
    let named: Vec<String> = pairs("servers", get("servers"))?.into_keys().collect();
    for name in weights
        .keys()
        .map(String::as_str)
        .chain(draining.iter().copied())
        .chain(disabled.iter().copied())
    {
        if !named.iter().any(|s| s == name) {
            return Err(format!("server {name:?} is named but not in servers"));
        }
    }
    let duration = |k: &str| model::parse_duration(&value(k)).unwrap_or(Duration::from_secs(1));
    let number = |k: &str| value(k).parse::<u32>().unwrap_or(1);
    let kind = match value("health").as_str() {
        "http" => HealthCheckKind::Http {
            path: value("health_path"),
            expect_status: value("health_status").parse().unwrap_or(200),
            body_contains: p.get("health_body").filter(|b| !b.is_empty()).cloned(),
        },
        _ => HealthCheckKind::Tcp,
    };
    let algorithm = match value("algorithm").as_str() {
        "weighted_round_robin" => Algorithm::WeightedRoundRobin,
        "least_connections" => Algorithm::LeastConnections,
        "weighted_least_connections" => Algorithm::WeightedLeastConnections,
        "source_hash" => Algorithm::SourceHash,
        "maglev" => Algorithm::Maglev,
        _ => Algorithm::RoundRobin,
    };
    let config = ServiceConfig {
        name: name.to_string(),
        listen: list(get("listen"))
            .map(|text| addr("listen", text))
            .collect::<Result<_, _>>()?,
        protocol: if value("protocol") == "http" {
            Protocol::Http
        } else {
            Protocol::Tcp
        },
        servers,
        algorithm,
        persistence: p.get("persistence").and_then(|d| model::parse_duration(d)),
        health: HealthCheck {
            kind,
            interval: duration("health_interval"),
            timeout: duration("health_timeout"),
            rise: number("rise"),
            fall: number("fall"),
        },
        sorry_server: match p.get("sorry_server") {
            Some(text) => Some(addr("sorry_server", text)?),
            None => None,
        },
        max_conns: p.get("max_conns").and_then(|m| m.parse().ok()),
        idle_timeout: Duration::from_secs(300),
    };
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// The director and the services it serves now.
struct Plane {
    director: Director,
    config: LbConfig,
}

/// The `lb` resource agent, sharing one `Director` for the whole node.
pub struct LbAgent {
    plane: Arc<Mutex<Plane>>,
    /// The local replica, to find where `@resource` servers run.
    shared: Option<cmdb::SharedDb>,
}

/// Where a resource runs now, from the local replica: each running instance's node name,
/// the address of that node (from its API address), and whether the master has withdrawn
/// its grant (the node drains it, then stops it).
fn running_instances(shared: &cmdb::SharedDb, resource: &str) -> Vec<RunningInstance> {
    let id = model::ResourceId(resource.to_string());
    shared.read(|db| {
        let Some(instances) = db.resources.status.get(&id) else {
            return Vec::new();
        };
        instances
            .iter()
            .filter(|(_, status)| status.state == model::ResourceState::Running)
            .filter_map(|(node, _)| {
                let info = &db.nodes.get(node)?.info;
                let ip = info.api_addr.parse::<SocketAddr>().ok()?.ip();
                let granted = db
                    .resources
                    .assignments
                    .get(node)
                    .is_some_and(|granted| granted.contains_key(&id));
                Some(RunningInstance {
                    node: info.name.clone(),
                    ip,
                    draining: !granted,
                })
            })
            .collect()
    })
}

impl LbAgent {
    /// A node's data plane, serving nothing yet.
    pub fn new() -> LbAgent {
        LbAgent::with_options(DirectorOptions::recommended())
    }

    fn with_options(options: DirectorOptions) -> LbAgent {
        let plane = Plane {
            director: Director::new(options),
            config: LbConfig {
                services: Vec::new(),
            },
        };
        LbAgent {
            plane: Arc::new(Mutex::new(plane)),
            shared: None,
        }
    }

    /// A node's data plane that resolves `@resource` servers from the local replica.
    /// Its HTTP clients get the read timeouts of `limits` (`[lb]` in the config file).
    pub fn with_cluster(shared: cmdb::SharedDb, limits: &crate::config::LbLimits) -> LbAgent {
        let options = DirectorOptions {
            header_read_timeout: limits.header_read_timeout,
            body_read_timeout: limits.body_read_timeout,
            ..DirectorOptions::recommended()
        };
        LbAgent {
            shared: Some(shared),
            ..LbAgent::with_options(options)
        }
    }

    /// The counters of every service this node serves.
    pub async fn snapshots(&self) -> Vec<lb::ServiceSnapshot> {
        let plane = self.plane.lock().await;
        plane.director.snapshot().services
    }

    /// The counters of a service this node serves, if it serves it.
    pub async fn stats(&self, name: &str) -> Option<lb::ServiceSnapshot> {
        let plane = self.plane.lock().await;
        plane
            .director
            .snapshot()
            .services
            .into_iter()
            .find(|s| s.name == name)
    }

    /// The service an `lb` resource's parameters describe, `@resource` servers resolved.
    fn service(
        &self,
        name: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<ServiceConfig, String> {
        match &self.shared {
            Some(shared) => {
                resolved_service_config(name, params, &|r| running_instances(shared, r))
            }
            None => service_config(name, params),
        }
    }

    /// Follow the cmdb: when an `lb` resource this node serves changes its parameters
    /// (servers added, removed, drained, re-weighted, another algorithm), apply the new
    /// service at once, without restarting the listener or dropping in-flight connections.
    /// The executor keeps running the instance it started; this is a reload, not a restart.
    pub async fn follow(self: Arc<Self>, shared: cmdb::SharedDb, shutdown: CancellationToken) {
        let mut applied = shared.subscribe();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = applied.changed() => if changed.is_err() { return },
            }
            let serving: Vec<String> = self
                .plane
                .lock()
                .await
                .config
                .services
                .iter()
                .map(|s| s.name.clone())
                .collect();
            for name in serving {
                let id = model::ResourceId(name.clone());
                let params =
                    shared.read(|db| db.resources.resources.get(&id).map(|r| r.params.clone()));
                let Some(params) = params else { continue };
                let Ok(wanted) = self.service(&name, &params) else {
                    continue;
                };
                self.reload(&name, wanted).await;
            }
        }
    }

    /// Apply `wanted` to a service this node still serves, if it differs. The check and the
    /// change are made under one lock: a stop that ran since `follow` listed the services has
    /// removed this one, and a reload must never bring its listener back (it would hold the
    /// address the node now running the service needs).
    async fn reload(&self, name: &str, wanted: ServiceConfig) {
        let mut plane = self.plane.lock().await;
        let current = plane.config.services.iter().find(|s| s.name == name);
        if current.is_some_and(|current| *current != wanted) {
            tracing::info!(service = %name, "Reloading load-balancer service");
            let _ = Self::apply(&mut plane, name, Some(wanted)).await;
        }
    }

    async fn set(&self, name: &str, service: Option<ServiceConfig>) -> Outcome {
        let mut plane = self.plane.lock().await;
        Self::apply(&mut plane, name, service).await
    }

    /// Serve `service` as `name` (or stop serving `name`), the plane's lock held.
    async fn apply(plane: &mut Plane, name: &str, service: Option<ServiceConfig>) -> Outcome {
        let mut config = plane.config.clone();
        config.services.retain(|s| s.name != name);
        config.services.extend(service);
        match plane.director.apply(&config).await {
            Ok(()) => {
                plane.config = config;
                Outcome::Ok
            }
            Err(error) => {
                // Keep the services that did bind; the failed one is reported.
                plane.config = config;
                Outcome::failed(Severity::Soft, error.to_string())
            }
        }
    }
}

impl Default for LbAgent {
    fn default() -> LbAgent {
        LbAgent::new()
    }
}

impl LbAgent {
    fn config_of(&self, request: &OperationRequest) -> Result<ServiceConfig, Outcome> {
        self.service(&request.resource.0, &request.params)
            .map_err(|reason| Outcome::failed(Severity::Fatal, reason))
    }
}

impl ResourceAgent for LbAgent {
    fn type_name(&self) -> &str {
        "lb"
    }

    fn meta(&self) -> BoxFuture<'_, Result<ParamSchema, MetaError>> {
        Box::pin(async { Ok(schema()) })
    }

    fn validate<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.config_of(request)
                .map(|_| Outcome::Ok)
                .unwrap_or_else(|o| o)
        })
    }

    fn start<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match self.config_of(request) {
                Ok(service) => self.set(&request.resource.0, Some(service)).await,
                Err(outcome) => outcome,
            }
        })
    }

    fn stop<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.set(&request.resource.0, None).await })
    }

    /// Applies the new parameters to the director at once, as `follow` does.
    fn reload<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        self.start(request)
    }

    fn monitor<'a>(&'a self, request: &'a OperationRequest) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let plane = self.plane.lock().await;
            let name = &request.resource.0;
            let configured = plane.config.services.iter().any(|s| &s.name == name);
            match (configured, plane.director.local_addr(name)) {
                (true, Some(_)) => Outcome::Ok,
                (true, None) => Outcome::failed(Severity::Soft, "the listener is not bound"),
                (false, _) => Outcome::NotRunning,
            }
        })
    }
}

#[cfg(test)]
mod tests;
