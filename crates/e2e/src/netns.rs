//! The multi-host test bed: one network namespace per host on a bridge in a "switch"
//! namespace, one real `encluster agent` per host, and a client namespace. Addresses are in
//! 198.18.0.0/15 only. Everything is torn down on drop, also when a test fails.
//!
//! Tests that need it call [`enabled`] first: they run when `RUN_NETNS_TESTS=1` (the test
//! command sets it under CI, as root) and otherwise say so and return; under CI (`CI` set)
//! a test that would not run fails instead, so that none passes without running.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub mod watchdog;

static NEXT_BED: AtomicU32 = AtomicU32::new(0);

/// Whether namespace tests run here; prints why not when they don't. Under CI (`CI` set
/// to anything) a test that would not run fails instead.
pub fn enabled(test: &str) -> bool {
    let on = std::env::var("RUN_NETNS_TESTS").is_ok_and(|v| v == "1");
    if !on {
        let reason = format!(
            "{test}: not run; set RUN_NETNS_TESTS=1 and run as root (scripts/test.sh does under CI)"
        );
        assert!(
            std::env::var_os("CI").is_none_or(|value| value.is_empty()),
            "{reason}: under CI a test must run, never pass without running"
        );
        println!("{reason}");
    }
    on
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip").args(args).output().context("run ip")?;
    if !output.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// One host of the test bed.
pub struct Host {
    /// Namespace name.
    pub netns: String,
    /// The host's address.
    pub addr: String,
    /// Its config file.
    pub config: PathBuf,
    /// The switch-side interface of its link (cut it to isolate the host).
    pub port: String,
    agent: Option<Child>,
}

/// A set of hosts in namespaces with one agent each.
pub struct TestBed {
    /// Prefix of every namespace and interface name of this bed.
    pub prefix: String,
    /// The third octet of this bed's 198.18.X.0/24.
    pub subnet: u8,
    /// The hosts, index = node id - 1.
    pub hosts: Vec<Host>,
    /// The client namespace.
    pub client: String,
    /// Files (CA, configs, logs).
    pub dir: tempfile::TempDir,
    /// Admin token.
    pub token: String,
}

impl TestBed {
    /// Build `n` hosts and a client on a bridge and write a cluster's configs for them.
    pub fn new(n: usize) -> anyhow::Result<TestBed> {
        let bed = NEXT_BED.fetch_add(1, Ordering::Relaxed);
        let subnet = ((std::process::id() + bed * 7) % 200 + 20) as u8;
        let prefix = format!("e{}{}", std::process::id() % 10000, bed);
        let dir = tempfile::tempdir()?;
        let mut testbed = TestBed {
            prefix: prefix.clone(),
            subnet,
            hosts: Vec::new(),
            client: format!("{prefix}c"),
            dir,
            token: String::new(),
        };
        testbed.build_network(n)?;
        testbed.write_configs()?;
        Ok(testbed)
    }

    fn switch(&self) -> String {
        format!("{}s", self.prefix)
    }

    fn build_network(&mut self, n: usize) -> anyhow::Result<()> {
        let switch = self.switch();
        ip(&["netns", "add", &switch])?;
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &switch, "link", "set", "br0", "up"])?;
        let mut names: Vec<(String, String)> = (1..=n)
            .map(|i| {
                (
                    format!("{}h{i}", self.prefix),
                    format!("198.18.{}.{i}", self.subnet),
                )
            })
            .collect();
        names.push((self.client.clone(), format!("198.18.{}.200", self.subnet)));
        for (index, (netns, addr)) in names.iter().enumerate() {
            let port = format!("{}p{index}", self.prefix);
            ip(&["netns", "add", netns])?;
            ip(&[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", netns,
            ])?;
            ip(&["link", "set", &port, "netns", &switch])?;
            ip(&["-n", &switch, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &switch, "link", "set", &port, "up"])?;
            ip(&[
                "-n",
                netns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", netns, "link", "set", "eth0", "up"])?;
            ip(&["-n", netns, "link", "set", "lo", "up"])?;
            if index < n {
                let config = self
                    .dir
                    .path()
                    .join("cluster")
                    .join(format!("node{}", index + 1))
                    .join("encluster.toml");
                self.hosts.push(Host {
                    netns: netns.clone(),
                    addr: addr.clone(),
                    config,
                    port,
                    agent: None,
                });
            }
        }
        Ok(())
    }

    fn write_configs(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(crate::binary());
        command
            .args(["init", "--cluster-name", "bed"])
            .arg("--dir")
            .arg(self.dir.path().join("cluster"));
        for (index, host) in self.hosts.iter().enumerate() {
            command
                .arg("--node")
                .arg(format!("node{}={}", index + 1, host.addr));
        }
        let output = command.output()?;
        if !output.status.success() {
            bail!("init: {}", String::from_utf8_lossy(&output.stderr));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        self.token = stdout
            .lines()
            .find_map(|l| l.strip_prefix("admin token:"))
            .context("no admin token")?
            .trim()
            .to_string();
        Ok(())
    }

    /// Start host `id`'s agent inside its namespace.
    pub fn start(&mut self, id: u64) -> anyhow::Result<()> {
        let host = &mut self.hosts[(id - 1) as usize];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(host.config.with_file_name("agent.log"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &host.netns])
            .arg(crate::binary())
            .arg("agent")
            .arg("--config")
            .arg(&host.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        host.agent = Some(child);
        Ok(())
    }

    /// A host crash: SIGKILL the agent and everything it started.
    pub fn crash(&mut self, id: u64) {
        let host = &mut self.hosts[(id - 1) as usize];
        if let Some(mut child) = host.agent.take() {
            for pid in crate::cluster::descendants(child.id()) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop (SIGSTOP) or continue (SIGCONT) host `id`'s agent: a hung host.
    pub fn hang(&self, id: u64, hung: bool) {
        let signal = if hung {
            Signal::SIGSTOP
        } else {
            Signal::SIGCONT
        };
        if let Some(child) = &self.hosts[(id - 1) as usize].agent {
            let _ = kill(Pid::from_raw(child.id() as i32), signal);
        }
    }

    /// The pid of host `id`'s agent.
    pub fn agent_pid(&self, id: u64) -> Option<u32> {
        self.hosts[(id - 1) as usize].agent.as_ref().map(Child::id)
    }

    /// Cut or restore host `id`'s link (the switch side goes down: no frames pass).
    pub fn link(&self, id: u64, up: bool) -> anyhow::Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&[
            "-n",
            &self.switch(),
            "link",
            "set",
            &self.hosts[(id - 1) as usize].port,
            state,
        ])
    }

    /// Whether `addr` is configured on host `id` now.
    pub fn holds(&self, id: u64, addr: &str) -> bool {
        let output = Command::new("ip")
            .args([
                "-n",
                &self.hosts[(id - 1) as usize].netns,
                "-o",
                "addr",
                "show",
                "dev",
                "eth0",
            ])
            .output();
        output.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(" {addr}/")))
    }

    /// Run `curl`-like HTTP GET from the client namespace with python3; the body or None.
    pub fn client_get(&self, url: &str) -> Option<String> {
        let script = format!(
            "import urllib.request, sys\n\
             try:\n    print(urllib.request.urlopen('{url}', timeout=1).read().decode())\n\
             except Exception:\n    sys.exit(1)"
        );
        let output = Command::new("ip")
            .args(["netns", "exec", &self.client, "python3", "-c", &script])
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Run the CLI inside host `id`'s namespace against that host's API (the hosts'
    /// addresses are reachable only from inside the bed).
    pub fn cli(&self, id: u64, args: &[&str]) -> std::process::Output {
        let host = &self.hosts[(id - 1) as usize];
        Command::new("ip")
            .args(["netns", "exec", &host.netns])
            .arg(crate::binary())
            .args(args)
            .env("ENCLUSTER_API", format!("https://{}:7511", host.addr))
            .env("ENCLUSTER_TOKEN", &self.token)
            .env(
                "ENCLUSTER_CA",
                self.dir.path().join("cluster").join("ca.pem"),
            )
            .env_remove("ENCLUSTER_CLI_CONFIG")
            .output()
            .expect("run the CLI in a host namespace")
    }

    /// Create (through host 1) a netlink VIP resource `name` for `ip` on every host's eth0,
    /// in the bed's /24, monitored every second.
    pub fn create_netlink_vip(&self, name: &str, ip: &str) -> std::process::Output {
        let ip = format!("ip={ip}");
        #[rustfmt::skip]
        let args = [
            "resource", "create", name, "--type", "vip",
            "--param", &ip, "--param", "mode=netlink", "--param", "nic=eth0",
            "--param", "cidr_netmask=24", "--monitor-interval", "1s",
        ];
        self.cli(1, &args)
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        for id in 1..=self.hosts.len() as u64 {
            self.crash(id);
        }
        if std::thread::panicking() {
            let logs: Vec<(u64, PathBuf)> = (1..)
                .zip(&self.hosts)
                .map(|(id, host)| (id, host.config.with_file_name("agent.log")))
                .collect();
            crate::logs::keep_failed(&format!("netns-{}", self.prefix), &logs);
        }
        for host in &self.hosts {
            let _ = ip(&["netns", "del", &host.netns]);
        }
        let _ = ip(&["netns", "del", &self.client]);
        let _ = ip(&["netns", "del", &self.switch()]);
    }
}
