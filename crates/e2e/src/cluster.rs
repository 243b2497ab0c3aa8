//! A local cluster of agent processes, driven through the CLI binary and `api::Client`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

static NEXT_SUBNET: AtomicU32 = AtomicU32::new(0);

/// The `encluster` binary under test: `$ENCLUSTER_BIN`, or the one next to the test
/// executable's `deps` directory (`target/<profile>/encluster`).
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ENCLUSTER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("encluster");
    assert!(
        path.exists(),
        "{} does not exist: run `cargo build -p encluster` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Poll `check` every 20 ms until it returns `Some`, or fail after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One node of a test cluster.
pub struct Node {
    /// Node id.
    pub id: u64,
    /// Config file.
    pub config: PathBuf,
    /// API `host:port`.
    pub api_addr: String,
    /// Peer `host:port`.
    pub peer_addr: String,
    child: Option<Child>,
    /// The `encluster` binary its agent runs (`binary()` unless `Cluster::set_binary`).
    program: PathBuf,
}

/// A cluster of agent processes in a temporary directory.
pub struct Cluster {
    /// The cluster's directory (CA, CLI config, one subdirectory per node).
    pub dir: tempfile::TempDir,
    /// The nodes, index = id - 1.
    pub nodes: Vec<Node>,
    /// The admin API token.
    pub admin_token: String,
    /// The join token.
    pub join_token: String,
    /// The first address of this cluster's block (node i has last octet + i - 1).
    pub base_ip: Ipv4Addr,
    /// Extra environment of every agent (for example `OCF_ROOT`).
    pub agent_env: Vec<(String, String)>,
}

/// The first address of a block of 127.x.y.z addresses no other test of this run uses.
pub fn unique_base_ip() -> Ipv4Addr {
    // 127.<pid-derived>.<counter>.1: distinct across parallel tests and test binaries.
    let counter = NEXT_SUBNET.fetch_add(1, Ordering::Relaxed);
    let second = 20 + (std::process::id() % 200) as u8;
    Ipv4Addr::new(127, second, (counter % 250) as u8 + 1, 1)
}

impl Cluster {
    /// `encluster init --local n` with the given extra TOML edits applied to every node
    /// config (pairs of `from`, `to` text replacements), then start every node.
    pub fn start(n: usize, voters_max: usize, edits: &[(&str, &str)]) -> anyhow::Result<Cluster> {
        Cluster::start_with(&binary(), n, voters_max, edits)
    }

    /// `start` with extra environment variables for every agent (for example an
    /// `OCF_ROOT` holding a test's own OCF agents).
    pub fn start_with_agent_env(
        n: usize,
        voters_max: usize,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Cluster> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Cluster::start_inner(&binary(), n, voters_max, &[], env.collect())
    }

    /// `start` with another `encluster` binary (an older release) for `init` and every
    /// agent; the CLI (`cli`) stays `binary()`.
    pub fn start_with(
        program: &Path,
        n: usize,
        voters_max: usize,
        edits: &[(&str, &str)],
    ) -> anyhow::Result<Cluster> {
        Cluster::start_inner(program, n, voters_max, edits, Vec::new())
    }

    fn start_inner(
        program: &Path,
        n: usize,
        voters_max: usize,
        edits: &[(&str, &str)],
        agent_env: Vec<(String, String)>,
    ) -> anyhow::Result<Cluster> {
        let dir = tempfile::tempdir()?;
        let base_ip = unique_base_ip();
        let cluster_dir = dir.path().join("cluster");
        let output = Command::new(program)
            .args(["init", "--cluster-name", "test", "--local", &n.to_string()])
            .args([
                "--voters-max",
                &voters_max.to_string(),
                "--base-ip",
                &base_ip.to_string(),
            ])
            .arg("--dir")
            .arg(&cluster_dir)
            .output()?;
        if !output.status.success() {
            bail!("init failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let token = |prefix: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(prefix).map(|t| t.trim().to_string()))
                .context("init output lacks a token")
        };
        let mut cluster = Cluster {
            admin_token: token("admin token:")?,
            join_token: token("join token:")?,
            nodes: Vec::new(),
            base_ip,
            dir,
            agent_env,
        };
        for i in 0..n {
            let octets = base_ip.octets();
            let ip = Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3] + i as u8);
            let config = cluster_dir
                .join(format!("node{}", i + 1))
                .join("encluster.toml");
            let mut text = std::fs::read_to_string(&config)?;
            for (from, to) in edits {
                text = text.replace(from, to);
            }
            std::fs::write(&config, text)?;
            cluster.nodes.push(Node {
                id: i as u64 + 1,
                config,
                api_addr: format!("{ip}:7511"),
                peer_addr: format!("{ip}:7510"),
                child: None,
                program: program.to_path_buf(),
            });
        }
        for id in 1..=n as u64 {
            cluster.start_node(id)?;
        }
        Ok(cluster)
    }

    /// The cluster directory (holds `ca.pem`, `cli.toml`, `nodeN/`).
    pub fn cluster_dir(&self) -> PathBuf {
        self.dir.path().join("cluster")
    }

    fn node(&self, id: u64) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    /// Start (or restart) node `id`'s agent; its log goes to `nodeN/agent.log`.
    /// `ENCLUSTER_TEST_LOG` replaces the agents' log filter, to debug a failing test.
    pub fn start_node(&mut self, id: u64) -> anyhow::Result<()> {
        let env = self.agent_env.clone();
        let node = &mut self.nodes[(id - 1) as usize];
        let log_path = node.config.with_file_name("agent.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let child = Command::new(&node.program)
            .arg("agent")
            .arg("--config")
            .arg(&node.config)
            .env("ENCLUSTER_LOG", agent_log_filter())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        node.child = Some(child);
        Ok(())
    }

    /// Add a node started from a config written elsewhere (for example by `join`).
    pub fn adopt(&mut self, id: u64, config: PathBuf, api_addr: String, peer_addr: String) {
        assert_eq!(
            self.nodes.len() as u64,
            id - 1,
            "node ids are handed out in order"
        );
        self.nodes.push(Node {
            id,
            config,
            api_addr,
            peer_addr,
            child: None,
            program: binary(),
        });
    }

    /// Run node `id`'s agent from `program` from its next start on (a rolling upgrade).
    pub fn set_binary(&mut self, id: u64, program: &Path) {
        self.nodes[(id - 1) as usize].program = program.to_path_buf();
    }

    /// kill -9 node `id` (a node crash) and reap it.
    pub fn kill9(&mut self, id: u64) {
        self.signal(id, Signal::SIGKILL);
    }

    /// A node crash: SIGKILL node `id`'s agent together with every process it started
    /// (resource processes run in their own process groups, so they must be found first).
    pub fn crash(&mut self, id: u64) {
        if let Some(pid) = self.pid(id) {
            for child in descendants(pid) {
                let _ = kill(Pid::from_raw(child as i32), Signal::SIGKILL);
            }
        }
        self.kill9(id);
    }

    /// The node and process of `name`, when it runs on exactly one node and its process
    /// is alive there (asked of the first running node).
    pub async fn sole_instance(&self, name: &str) -> Option<(u64, u32)> {
        let view = self.client(self.running()[0]).resource(name).await.ok()?;
        let nodes: Vec<u64> = view
            .instances
            .iter()
            .filter(|i| i.state == "running")
            .map(|i| i.node)
            .collect();
        let [node] = nodes[..] else { return None };
        Some((node, self.resource_pid(node, name)?))
    }

    /// The pid of resource `name`'s process on node `id`, if it runs there.
    pub fn resource_pid(&self, id: u64, name: &str) -> Option<u32> {
        let root = self
            .node(id)
            .config
            .with_file_name("data")
            .join("resources");
        for entry in std::fs::read_dir(root).ok()?.flatten() {
            if entry.file_name().to_string_lossy() != name {
                continue;
            }
            let text = std::fs::read_to_string(entry.path().join("process.pid")).ok()?;
            let pid: u32 = text.split_whitespace().next()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let state = stat.rsplit(')').next()?.split_whitespace().next()?;
            return (state != "Z").then_some(pid);
        }
        None
    }

    /// SIGTERM node `id` and wait for it to exit.
    pub fn stop(&mut self, id: u64) {
        self.signal(id, Signal::SIGTERM);
    }

    fn signal(&mut self, id: u64, signal: Signal) {
        let node = &mut self.nodes[(id - 1) as usize];
        if let Some(mut child) = node.child.take() {
            let pid = i32::try_from(child.id()).expect("pid fits in i32");
            let _ = kill(Pid::from_raw(pid), signal);
            let _ = child.wait();
        }
    }

    /// Node `id`'s data directory.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.node(id).config.with_file_name("data")
    }

    /// Node `id`'s agent log so far.
    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.node(id).config.with_file_name("agent.log"))
            .unwrap_or_default()
    }

    /// The exit status of node `id`'s agent if it has exited by itself (it is then reaped
    /// and counts as stopped); None while it runs.
    pub fn exited(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let node = &mut self.nodes[(id - 1) as usize];
        let status = node.child.as_mut()?.try_wait().ok()??;
        node.child = None;
        Some(status)
    }

    /// The pid of node `id`'s agent, if running.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.node(id).child.as_ref().map(Child::id)
    }

    /// An API client for node `id` with the admin token.
    pub fn client(&self, id: u64) -> api::Client {
        self.client_with_token(id, Some(self.admin_token.clone()))
    }

    /// An API client for node `id` with any token.
    pub fn client_with_token(&self, id: u64, token: Option<String>) -> api::Client {
        let ca = std::fs::read_to_string(self.cluster_dir().join("ca.pem")).expect("ca.pem");
        let tls = auth::client_config(&ca, None).expect("client TLS config");
        api::Client::new(&format!("https://{}", self.node(id).api_addr), tls, token)
    }

    /// Run the CLI binary against node `id` with the admin token.
    pub fn cli(&self, id: u64, args: &[&str]) -> Output {
        Command::new(binary())
            .args(args)
            .env(
                "ENCLUSTER_API",
                format!("https://{}", self.node(id).api_addr),
            )
            .env("ENCLUSTER_TOKEN", &self.admin_token)
            .env("ENCLUSTER_CA", self.cluster_dir().join("ca.pem"))
            .env_remove("ENCLUSTER_CLI_CONFIG")
            .output()
            .expect("run the encluster CLI")
    }

    /// Wait until a running node reports a master that all running nodes agree on.
    pub async fn wait_master(&self, timeout: Duration) -> u64 {
        let running: Vec<u64> = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.id)
            .collect();
        wait_until("an agreed master", timeout, || async {
            let mut seen = None;
            for id in &running {
                // Status needs the admin token, so this also waits until the cluster's
                // identity and tokens have reached every running node.
                self.client(*id).status().await.ok()?;
                let health = self.client(*id).health().await.ok()?;
                let master = health.master?;
                if seen.is_some_and(|s| s != master) || !running.contains(&master) {
                    return None;
                }
                seen = Some(master);
            }
            seen
        })
        .await
    }

    /// Ids of running nodes.
    pub fn running(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.id)
            .collect()
    }
}

/// Every descendant of `pid`, children first found, from /proc.
pub(crate) fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Resource processes outlive a stopped agent by design; end them with the test.
        for node in &self.nodes {
            let root = node.config.with_file_name("data").join("resources");
            for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
                if let Some(pid) = recorded_live_pid(&entry.path().join("process.pid")) {
                    let _ = nix::sys::signal::killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        for node in &mut self.nodes {
            if let Some(child) = &node.child {
                for pid in descendants(child.id()) {
                    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                }
            }
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            let logs: Vec<(u64, PathBuf)> = self
                .nodes
                .iter()
                .map(|node| (node.id, node.config.with_file_name("agent.log")))
                .collect();
            crate::logs::keep_failed(&format!("cluster-{}", self.base_ip), &logs);
        }
    }
}

impl Cluster {
    /// Copy every agent's log out of the cluster's directory (deleted on drop), for a failure
    /// message; the directory they are in.
    pub fn save_logs(&self) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "encluster-cluster-{}-{}",
            std::process::id(),
            self.base_ip
        ));
        let _ = std::fs::create_dir_all(&dir);
        for node in &self.nodes {
            let log = node.config.with_file_name("agent.log");
            let _ = std::fs::copy(log, dir.join(format!("node{}.log", node.id)));
        }
        dir
    }
}

/// The pid in a resource's pid file (`<pid> <start time in clock ticks>`), only if that
/// process still exists with the same start time: a recycled pid is never signalled.
fn recorded_live_pid(path: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut words = text.split_whitespace();
    let pid: i32 = words.next()?.parse().ok()?;
    let start: u64 = words.next()?.parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let now_start: u64 = after_name.split_whitespace().nth(19)?.parse().ok()?;
    (pid > 1 && now_start == start).then_some(pid)
}

/// The agents' log filter: `ENCLUSTER_TEST_LOG` if set, else info without openraft's chatter.
fn agent_log_filter() -> String {
    std::env::var("ENCLUSTER_TEST_LOG").unwrap_or_else(|_| "info,openraft=error".to_string())
}
