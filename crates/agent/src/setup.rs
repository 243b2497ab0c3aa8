//! Cluster setup: `encluster init` (one node or a local cluster) and `encluster join`.
//! Both write a `cli.toml` naming every node's API address they know (`apis`); `join`
//! knows no admin token, so its `cli.toml` says where the token goes.
//!
//! Everything is written into a temporary directory next to the target and renamed into
//! place at the end, so a failure leaves nothing half-written.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::config::{
    AgentConfig, ApiLimits, Bootstrap, BootstrapMember, FailureConfig, LbLimits, RaftConfig,
    TlsFiles,
};

/// What `init` produced.
pub struct InitOutput {
    /// The admin API token (shown once; only its hash is stored).
    pub admin_token: String,
    /// The join token.
    pub join_token: String,
    /// The config file of each node created.
    pub configs: Vec<PathBuf>,
    /// The API address of each node created.
    pub api_addrs: Vec<String>,
    /// The CLI config written for the operator.
    pub cli_config: PathBuf,
}

/// Options of `encluster init --local N`.
pub struct LocalOptions {
    /// The cluster's name.
    pub cluster_name: String,
    /// Target directory; must not exist or be empty.
    pub dir: PathBuf,
    /// Number of nodes.
    pub count: usize,
    /// Address of node 1; node i gets this address plus i-1 in the last octet.
    pub base_ip: Ipv4Addr,
    /// Peer listener port on every node.
    pub peer_port: u16,
    /// API listener port on every node.
    pub api_port: u16,
    /// Largest number of voters.
    pub voters_max: usize,
}

/// One node's addresses for `init`.
pub struct NodeAddrs {
    /// Node name.
    pub name: String,
    /// Peer `host:port`.
    pub peer_addr: String,
    /// API `host:port`.
    pub api_addr: String,
}

fn check_target(dir: &Path) -> anyhow::Result<()> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; choose a new --dir or remove it first",
            dir.display()
        );
    }
    Ok(())
}

fn staging(dir: &Path) -> anyhow::Result<PathBuf> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    Ok(tmp)
}

fn finish(tmp: &Path, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(tmp, dir).with_context(|| format!("cannot move files to {}", dir.display()))
}

fn write(path: &Path, text: &str, secret: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mode = if secret { 0o600 } else { 0o644 };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn sans_for(addrs: &NodeAddrs) -> Vec<String> {
    node_sans(&addrs.peer_addr, &addrs.api_addr)
}

/// The names in a node certificate: localhost and the IPs of its listeners.
pub(crate) fn node_sans(peer_addr: &str, api_addr: &str) -> Vec<String> {
    let mut sans = vec!["localhost".to_string()];
    for addr in [peer_addr, api_addr] {
        if let Ok(socket) = addr.parse::<std::net::SocketAddr>() {
            let ip = socket.ip().to_string();
            if !sans.contains(&ip) {
                sans.push(ip);
            }
        }
    }
    sans
}

/// The CLI config an operator uses (`cli.toml`): every node's API address (the CLI tries
/// the next when one cannot be reached), the admin token if known, and the CA.
fn cli_toml(api_addrs: &[String], token: Option<&str>) -> String {
    let apis: Vec<String> = api_addrs
        .iter()
        .map(|addr| format!("\"https://{addr}\""))
        .collect();
    let token = match token {
        Some(token) => format!("token = \"{token}\"\n"),
        None => "# token = \"<the admin token printed by `encluster init`>\" \
                 (or set ENCLUSTER_TOKEN)\n"
            .to_string(),
    };
    format!("apis = [{}]\n{token}ca = \"ca.pem\"\n", apis.join(", "))
}

/// Create a cluster of `nodes` in `dir`: one CA, tokens, and a subdirectory per node
/// (`node1`, ...). With one node, its files sit directly in `dir`.
pub fn init(
    cluster_name: &str,
    dir: &Path,
    nodes: &[NodeAddrs],
    voters_max: usize,
) -> anyhow::Result<InitOutput> {
    for node in nodes {
        model::check_name(model::NameKind::Node, &node.name)?;
    }
    init_layout(cluster_name, dir, nodes, voters_max, nodes.len() > 1)
}

fn init_layout(
    cluster_name: &str,
    dir: &Path,
    nodes: &[NodeAddrs],
    voters_max: usize,
    per_node_dirs: bool,
) -> anyhow::Result<InitOutput> {
    if nodes.is_empty() {
        bail!("at least one node is needed");
    }
    check_target(dir)?;
    let tmp = staging(dir)?;
    let result = init_into(cluster_name, &tmp, dir, nodes, voters_max, per_node_dirs);
    match result {
        Ok(output) => {
            finish(&tmp, dir)?;
            Ok(output)
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(error)
        }
    }
}

fn init_into(
    cluster_name: &str,
    tmp: &Path,
    dir: &Path,
    nodes: &[NodeAddrs],
    voters_max: usize,
    per_node_dirs: bool,
) -> anyhow::Result<InitOutput> {
    let ca = auth::ClusterCa::generate(cluster_name).context("cannot create the cluster CA")?;
    let admin_token = auth::generate_api_token();
    let join_token = auth::generate_join_token(&ca.fingerprint());
    write(&tmp.join("ca.pem"), &ca.cert_pem(), false)?;
    write(&tmp.join("ca.key"), &ca.key_pem(), true)?;
    let api_addrs: Vec<String> = nodes.iter().map(|n| n.api_addr.clone()).collect();
    write(
        &tmp.join("cli.toml"),
        &cli_toml(&api_addrs, Some(&admin_token)),
        true,
    )?;
    let single = !per_node_dirs;
    let members: Vec<BootstrapMember> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| BootstrapMember {
            id: i as u64 + 1,
            name: n.name.clone(),
            peer_addr: n.peer_addr.clone(),
            api_addr: n.api_addr.clone(),
        })
        .collect();
    let mut configs = Vec::new();
    for (i, addrs) in nodes.iter().enumerate() {
        let node_id = i as u64 + 1;
        let (node_dir, up) = if single {
            (tmp.to_path_buf(), "")
        } else {
            (tmp.join(&addrs.name), "../")
        };
        std::fs::create_dir_all(&node_dir)?;
        let cert = ca.issue_node(model::NodeId(node_id), &sans_for(addrs))?;
        write(&node_dir.join("node.pem"), &cert.cert_pem, false)?;
        write(&node_dir.join("node.key"), &cert.key_pem, true)?;
        let bootstrap = (node_id == 1).then(|| Bootstrap {
            ca_key: PathBuf::from(format!("{up}ca.key")),
            admin_token_hash: auth::token_hash(&admin_token),
            join_token_hash: auth::token_hash(&join_token),
            members: members.clone(),
        });
        let config = AgentConfig {
            cluster_name: cluster_name.to_string(),
            node_id,
            name: addrs.name.clone(),
            data_dir: PathBuf::from("data"),
            peer_addr: addrs.peer_addr.clone(),
            api_addr: addrs.api_addr.clone(),
            voters_max,
            tls: TlsFiles {
                ca_cert: PathBuf::from(format!("{up}ca.pem")),
                cert: PathBuf::from("node.pem"),
                key: PathBuf::from("node.key"),
            },
            failure: FailureConfig::default(),
            raft: RaftConfig::default(),
            bootstrap,
            api: ApiLimits::default(),
            lb: LbLimits::default(),
            monitoring: true,
            watchdog: None,
            witness: None,
        };
        config.validate()?;
        let text = toml::to_string(&config).context("cannot encode the config")?;
        write(&node_dir.join("encluster.toml"), &text, false)?;
        let final_dir = if single {
            dir.to_path_buf()
        } else {
            dir.join(&addrs.name)
        };
        configs.push(final_dir.join("encluster.toml"));
    }
    Ok(InitOutput {
        admin_token,
        join_token,
        configs,
        api_addrs: nodes.iter().map(|n| n.api_addr.clone()).collect(),
        cli_config: dir.join("cli.toml"),
    })
}

/// `encluster init --local N`: N nodes on consecutive loopback addresses.
pub fn init_local(options: &LocalOptions) -> anyhow::Result<InitOutput> {
    if options.count == 0 || options.count > 64 {
        bail!("--local {}: give between 1 and 64 nodes", options.count);
    }
    if !options.base_ip.is_loopback() {
        bail!(
            "--base-ip {}: a local cluster must use a 127.x.y.z address",
            options.base_ip
        );
    }
    let octets = options.base_ip.octets();
    if usize::from(octets[3]) + options.count > 255 {
        bail!(
            "--base-ip {}: not enough addresses left for {} nodes",
            options.base_ip,
            options.count
        );
    }
    let nodes: Vec<NodeAddrs> = (0..options.count)
        .map(|i| {
            let ip = Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3] + i as u8);
            NodeAddrs {
                name: format!("node{}", i + 1),
                peer_addr: format!("{ip}:{}", options.peer_port),
                api_addr: format!("{ip}:{}", options.api_port),
            }
        })
        .collect();
    init_layout(
        &options.cluster_name,
        &options.dir,
        &nodes,
        options.voters_max,
        true,
    )
}

/// Options of `encluster join`.
pub struct JoinOptions {
    /// API address of any member (`host:port`).
    pub server: String,
    /// The join token from `encluster init`.
    pub token: String,
    /// Directory for the new node's files; must not exist or be empty.
    pub dir: PathBuf,
    /// The new node's addresses.
    pub addrs: NodeAddrs,
}

/// Join an existing cluster: pin the CA from the token, send a CSR, write the config.
pub async fn join(options: &JoinOptions) -> anyhow::Result<PathBuf> {
    let token = auth::parse_join_token(&options.token)?;
    model::check_name(model::NameKind::Node, &options.addrs.name)?;
    check_target(&options.dir)?;
    let pinned = auth::join_client_config(&token)?;
    let base = format!("https://{}", options.server.trim_start_matches("https://"));
    let client = ::api::Client::new(&base, pinned, Some(options.token.trim().to_string()));
    let ca_pem = client
        .ca()
        .await
        .context("cannot fetch the cluster CA")?
        .ca_pem;
    if !token.pins_ca(&auth::fingerprint_pem(&ca_pem)?) {
        bail!("the server's CA does not match the join token: is --server the right cluster?");
    }
    let (key_pem, csr_pem) = auth::new_key_and_csr()?;
    let request = ::api::JoinRequest {
        name: options.addrs.name.clone(),
        peer_addr: options.addrs.peer_addr.clone(),
        api_addr: options.addrs.api_addr.clone(),
        csr_pem,
    };
    let answer = client
        .join(&request)
        .await
        .context("the cluster refused the join")?;
    let tmp = staging(&options.dir)?;
    let server = options.server.trim_start_matches("https://").to_string();
    let written = write_joined(&tmp, &server, &options.addrs, &answer, &key_pem);
    if let Err(error) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(error);
    }
    finish(&tmp, &options.dir)?;
    Ok(options.dir.join("encluster.toml"))
}

fn write_joined(
    tmp: &Path,
    server: &String,
    addrs: &NodeAddrs,
    answer: &::api::JoinResponse,
    key_pem: &str,
) -> anyhow::Result<()> {
    write(&tmp.join("ca.pem"), &answer.ca_pem, false)?;
    write(&tmp.join("node.pem"), &answer.cert_pem, false)?;
    write(&tmp.join("node.key"), key_pem, true)?;
    // This node first, then every member the cluster named (an older agent names none).
    let mut api_addrs = vec![addrs.api_addr.clone()];
    for addr in answer.api_addrs.iter().chain([server]) {
        if !api_addrs.contains(addr) {
            api_addrs.push(addr.clone());
        }
    }
    write(&tmp.join("cli.toml"), &cli_toml(&api_addrs, None), false)?;
    let config = AgentConfig {
        cluster_name: answer.cluster_name.clone(),
        node_id: answer.node_id,
        name: addrs.name.clone(),
        data_dir: PathBuf::from("data"),
        peer_addr: addrs.peer_addr.clone(),
        api_addr: addrs.api_addr.clone(),
        voters_max: 5,
        tls: TlsFiles {
            ca_cert: PathBuf::from("ca.pem"),
            cert: PathBuf::from("node.pem"),
            key: PathBuf::from("node.key"),
        },
        failure: FailureConfig::default(),
        raft: RaftConfig::default(),
        bootstrap: None,
        api: ApiLimits::default(),
        lb: LbLimits::default(),
        monitoring: true,
        watchdog: None,
        witness: None,
    };
    write(
        &tmp.join("encluster.toml"),
        &toml::to_string(&config)?,
        false,
    )
}
