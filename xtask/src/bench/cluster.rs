//! The two systems under test as process groups on loopback: three encluster agents, or
//! three etcd members, started, killed and restarted by pid.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Which system a cluster runs.
#[derive(Clone)]
enum Kind {
    Encluster {
        token: String,
        ca_pem: String,
    },
    /// `ca_pem`: clients and peers speak TLS, with certificates from this CA
    /// (`ETCD_TLS=1`), as encluster always does; `None`: plain HTTP.
    Etcd {
        ca_pem: Option<String>,
    },
}

/// One member process and how to start it again.
struct Member {
    command: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
    /// encluster: API `host:port`; etcd: client `host:port`.
    endpoint: String,
}

/// A three-member cluster of either system.
pub struct Cluster {
    kind: Kind,
    members: Vec<Member>,
}

pub(crate) fn encluster_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::var_os("ENCLUSTER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/release/encluster"))
}

impl Cluster {
    /// Three encluster agents on 127.0.8.1-3.
    pub async fn encluster(scratch: &Path) -> anyhow::Result<Cluster> {
        let dir = scratch.join("encluster");
        let binary = encluster_binary();
        let output = Command::new(&binary)
            .args([
                "init",
                "--local",
                "3",
                "--base-ip",
                "127.0.8.1",
                "--cluster-name",
                "bench",
            ])
            .arg("--dir")
            .arg(&dir)
            .output()
            .with_context(|| format!("run {}", binary.display()))?;
        if !output.status.success() {
            bail!("init failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let token = stdout
            .lines()
            .find_map(|l| l.strip_prefix("admin token:"))
            .context("no admin token")?
            .trim()
            .to_string();
        let ca_pem = std::fs::read_to_string(dir.join("ca.pem"))?;
        let members = (1..=3)
            .map(|i| Member {
                command: vec![
                    binary.display().to_string(),
                    "agent".into(),
                    "--config".into(),
                    dir.join(format!("node{i}/encluster.toml"))
                        .display()
                        .to_string(),
                ],
                log: dir.join(format!("node{i}.log")),
                child: None,
                endpoint: format!("127.0.8.{i}:7511"),
            })
            .collect();
        let mut cluster = Cluster {
            kind: Kind::Encluster { token, ca_pem },
            members,
        };
        for id in 1..=3 {
            cluster.spawn(id)?;
        }
        cluster.settle().await?;
        Ok(cluster)
    }

    /// Three etcd members on 127.0.0.1:2379{1,2,3}; with `ETCD_TLS=1` in the environment,
    /// clients and peers speak TLS with certificates of a CA made here (peers also
    /// authenticate each other), as an encluster cluster always does.
    pub async fn etcd(scratch: &Path) -> anyhow::Result<Cluster> {
        let dir = scratch.join("etcd");
        std::fs::create_dir_all(&dir)?;
        let tls = std::env::var("ETCD_TLS").is_ok_and(|v| v == "1");
        let ca_pem = if tls {
            Some(etcd_certificates(&dir)?)
        } else {
            None
        };
        let scheme = if tls { "https" } else { "http" };
        let initial = (1..=3)
            .map(|i| format!("m{i}={scheme}://127.0.0.1:2380{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let members = (1..=3)
            .map(|i| {
                let mut command = vec![
                    "etcd".to_string(),
                    format!("--name=m{i}"),
                    format!("--data-dir={}", dir.join(format!("m{i}.etcd")).display()),
                    format!("--listen-client-urls={scheme}://127.0.0.1:2379{i}"),
                    format!("--advertise-client-urls={scheme}://127.0.0.1:2379{i}"),
                    format!("--listen-peer-urls={scheme}://127.0.0.1:2380{i}"),
                    format!("--initial-advertise-peer-urls={scheme}://127.0.0.1:2380{i}"),
                    format!("--initial-cluster={initial}"),
                    "--initial-cluster-state=new".into(),
                    "--initial-cluster-token=bench".into(),
                    "--election-timeout=300".into(),
                    "--heartbeat-interval=50".into(),
                    "--logger=zap".into(),
                    "--log-level=warn".into(),
                ];
                if tls {
                    let file = |name: &str| dir.join(name).display().to_string();
                    command.extend([
                        format!("--cert-file={}", file("member.pem")),
                        format!("--key-file={}", file("member.key")),
                        format!("--peer-cert-file={}", file("member.pem")),
                        format!("--peer-key-file={}", file("member.key")),
                        format!("--peer-trusted-ca-file={}", file("ca.pem")),
                        "--peer-client-cert-auth".into(),
                    ]);
                }
                Member {
                    command,
                    log: dir.join(format!("m{i}.log")),
                    child: None,
                    endpoint: format!("127.0.0.1:2379{i}"),
                }
            })
            .collect();
        let mut cluster = Cluster {
            kind: Kind::Etcd { ca_pem },
            members,
        };
        for id in 1..=3 {
            cluster.spawn(id)?;
        }
        cluster.settle().await?;
        Ok(cluster)
    }

    fn spawn(&mut self, id: u64) -> anyhow::Result<()> {
        let member = &mut self.members[(id - 1) as usize];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&member.log)?;
        let child = Command::new(&member.command[0])
            .args(&member.command[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", member.command[0]))?;
        member.child = Some(child);
        Ok(())
    }

    /// A cheap, owned handle that performs writes against this system.
    pub fn writer(&self) -> Writer {
        Writer {
            kind: self.kind.clone(),
        }
    }

    /// An HTTP client for this system (TLS with the cluster CA for encluster).
    pub fn http_client(&self) -> reqwest::Client {
        self.writer().http_client()
    }

    /// One durable write through `endpoint`.
    pub async fn put(
        &self,
        client: &reqwest::Client,
        endpoint: &str,
        key: &str,
        value: &str,
    ) -> anyhow::Result<()> {
        self.writer().put(client, endpoint, key, value).await
    }

    /// The current master's member id (1-based), asked of the running members.
    pub async fn master(&self) -> anyhow::Result<u64> {
        let client = self.http_client();
        for (index, member) in self.members.iter().enumerate() {
            if member.child.is_none() {
                continue;
            }
            if let Ok(Some(master)) = self.ask_master(&client, index, &member.endpoint).await {
                return Ok(master);
            }
        }
        bail!("no member reports a master")
    }

    async fn ask_master(
        &self,
        client: &reqwest::Client,
        index: usize,
        endpoint: &str,
    ) -> anyhow::Result<Option<u64>> {
        match &self.kind {
            Kind::Encluster { .. } => {
                let url = format!("https://{endpoint}/v1/health");
                let health: serde_json::Value = client.get(url).send().await?.json().await?;
                Ok(health["master"].as_u64())
            }
            Kind::Etcd { ca_pem } => {
                let scheme = if ca_pem.is_some() { "https" } else { "http" };
                let url = format!("{scheme}://{endpoint}/v3/maintenance/status");
                let status: serde_json::Value =
                    client.post(url).body("{}").send().await?.json().await?;
                let leader = status["leader"].as_str().unwrap_or("");
                let me = status["header"]["member_id"].as_str().unwrap_or("");
                if !leader.is_empty() && leader == me {
                    return Ok(Some(index as u64 + 1));
                }
                Ok(None)
            }
        }
    }

    /// Endpoints for writes: the master only, or every running member.
    pub async fn write_targets(&self, master_only: bool) -> anyhow::Result<Vec<String>> {
        if master_only {
            let master = self.master().await?;
            return Ok(vec![self.members[(master - 1) as usize].endpoint.clone()]);
        }
        Ok(self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| m.endpoint.clone())
            .collect())
    }

    /// Endpoints of every running member except `id`.
    pub async fn write_targets_except(&self, id: u64) -> anyhow::Result<Vec<String>> {
        Ok(self
            .members
            .iter()
            .enumerate()
            .filter(|(i, m)| *i as u64 + 1 != id && m.child.is_some())
            .map(|(_, m)| m.endpoint.clone())
            .collect())
    }

    /// Wait until a master exists, every member is running, and a write succeeds; then
    /// one more second for followers to settle.
    pub async fn settle(&self) -> anyhow::Result<()> {
        let client = self.http_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(master) = self.master().await {
                let endpoint = &self.members[(master - 1) as usize].endpoint;
                if self
                    .put(&client, endpoint, "bench/settle", "ok")
                    .await
                    .is_ok()
                {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the cluster did not settle within 60 s")
    }

    /// Wait until the master reports every node online (encluster only).
    pub async fn wait_all_online(&self) -> anyhow::Result<()> {
        let Kind::Encluster { token, .. } = &self.kind else {
            return Ok(());
        };
        let client = self.http_client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(master) = self.master().await {
                let endpoint = &self.members[(master - 1) as usize].endpoint;
                let url = format!("https://{endpoint}/v1/status");
                if let Ok(response) = client.get(url).bearer_auth(token).send().await
                    && let Ok(status) = response.json::<serde_json::Value>().await
                    && status["nodes"]
                        .as_array()
                        .is_some_and(|nodes| nodes.iter().all(|n| n["state"] == "online"))
                {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("not every node came back online within 60 s")
    }

    /// SIGKILL member `id` and reap it.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.members[(id - 1) as usize].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start member `id` again with its data and wait for the cluster to settle.
    pub async fn restart(&mut self, id: u64) -> anyhow::Result<()> {
        self.spawn(id)?;
        self.settle().await
    }

    /// Kill `victim` and wait for the master to record it down; milliseconds from the
    /// kill to the event's time stamp (the master's clock, the same machine's clock).
    pub async fn kill_until_down(&mut self, master: u64, victim: u64) -> anyhow::Result<f64> {
        let Kind::Encluster { token, .. } = &self.kind else {
            bail!("encluster only")
        };
        let token = token.clone();
        let client = self.http_client();
        let endpoint = self.members[(master - 1) as usize].endpoint.clone();
        let url = |since: u64| format!("https://{endpoint}/v1/events?since={since}&wait_ms=2000");
        let first: serde_json::Value = client
            .get(url(0))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let mut since = first["next"].as_u64().unwrap_or(0);
        let killed_at_ms = epoch_ms();
        self.kill(victim);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let page: serde_json::Value = client
                .get(url(since))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            since = page["next"].as_u64().unwrap_or(since);
            for event in page["events"].as_array().into_iter().flatten() {
                let detail = &event["detail"];
                if event["kind"] == "node_health"
                    && detail["node"].as_u64() == Some(victim)
                    && detail["to"] == "down"
                {
                    let at_ms = event["at_ms"].as_u64().unwrap_or(0);
                    return Ok(at_ms.saturating_sub(killed_at_ms) as f64);
                }
            }
        }
        bail!("no down event for node {victim} within 10 s")
    }

    /// Resident memory of each running member, MiB.
    pub fn rss_mib(&self) -> Vec<f64> {
        self.members
            .iter()
            .filter_map(|m| m.child.as_ref())
            .filter_map(|child| {
                let status =
                    std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
                let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
                let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kib / 1024.0)
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.members.len() as u64 {
            self.kill(id);
        }
    }
}

/// Milliseconds since the Unix epoch (benchmarks may read clocks).
pub fn epoch_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A CA and one certificate for every etcd member (all on 127.0.0.1), written to `dir` as
/// `ca.pem`, `member.pem` and `member.key`; the CA's PEM.
fn etcd_certificates(dir: &Path) -> anyhow::Result<String> {
    let ca = auth::ClusterCa::generate("etcd-bench")?;
    let member = ca.issue_node(model::NodeId(1), &["127.0.0.1".into(), "localhost".into()])?;
    std::fs::write(dir.join("ca.pem"), ca.cert_pem())?;
    std::fs::write(dir.join("member.pem"), &member.cert_pem)?;
    std::fs::write(dir.join("member.key"), &member.key_pem)?;
    Ok(ca.cert_pem())
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Cluster {
    /// The pid of member `id`, if running.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.members[(id - 1) as usize]
            .child
            .as_ref()
            .map(Child::id)
    }
}

/// Performs writes against one system; owned, so it can move into spawned tasks.
#[derive(Clone)]
pub struct Writer {
    kind: Kind,
}

impl Writer {
    /// An HTTP client for this system (TLS with the cluster CA for encluster).
    pub fn http_client(&self) -> reqwest::Client {
        let builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        let builder = match &self.kind {
            Kind::Encluster { ca_pem, .. } => {
                let tls = auth::client_config(ca_pem, None).expect("client TLS config");
                builder.tls_backend_preconfigured((*tls).clone())
            }
            Kind::Etcd {
                ca_pem: Some(ca_pem),
            } => {
                let tls = auth::client_config(ca_pem, None).expect("client TLS config");
                builder.tls_backend_preconfigured((*tls).clone())
            }
            Kind::Etcd { ca_pem: None } => builder,
        };
        builder.build().expect("reqwest client")
    }

    /// One durable write of `value` under `key` through `endpoint`.
    pub async fn put(
        &self,
        client: &reqwest::Client,
        endpoint: &str,
        key: &str,
        value: &str,
    ) -> anyhow::Result<()> {
        let response = match &self.kind {
            Kind::Encluster { token, .. } => {
                client
                    .put(format!("https://{endpoint}/v1/kv/{key}"))
                    .bearer_auth(token)
                    .body(value.to_string())
                    .send()
                    .await?
            }
            Kind::Etcd { ca_pem } => {
                let body = serde_json::json!({ "key": base64(key), "value": base64(value) });
                let scheme = if ca_pem.is_some() { "https" } else { "http" };
                client
                    .post(format!("{scheme}://{endpoint}/v3/kv/put"))
                    .json(&body)
                    .send()
                    .await?
            }
        };
        let status = response.status();
        let _ = response.bytes().await?;
        anyhow::ensure!(status.is_success(), "put answered {status}");
        Ok(())
    }
}
