//! `encluster demo`: a local 3-node cluster on 127.0.0.x as child processes, stopped
//! cleanly on Ctrl-C.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

const NODES: usize = 3;

/// Run the demo until Ctrl-C or SIGTERM.
pub async fn run(dir: Option<PathBuf>, base_ip: Ipv4Addr) -> anyhow::Result<()> {
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("encluster-demo-{}", std::process::id()))
    });
    let output = agent::setup::init_local(&agent::setup::LocalOptions {
        cluster_name: "demo".into(),
        dir: dir.clone(),
        count: NODES,
        base_ip,
        peer_port: 7510,
        api_port: 7511,
        voters_max: 5,
    })?;
    let exe = std::env::current_exe().context("cannot find the encluster binary")?;
    let mut children = Vec::new();
    for config in &output.configs {
        let log_path = config.with_file_name("agent.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let child = Command::new(&exe)
            .arg("agent")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start the agent for {}", config.display()))?;
        children.push(child);
    }
    let ready = wait_for_master(&output.cli_config, &output.api_addrs[0]).await;
    let exited = exited_agents(&mut children, &output.configs);
    if !exited.is_empty() {
        stop_all(&mut children, &dir).await;
        anyhow::bail!(
            "the demo cluster did not start:\n  {}\nif another encluster or demo holds these \
             addresses, stop it, or start the demo on others with --base-ip (e.g. 127.0.0.21)",
            exited.join("\n  ")
        );
    }
    let samples = match client_for(&output.cli_config, &output.api_addrs[0]) {
        Ok(client) if ready => crate::samples::install(&client, &dir).await,
        Ok(_) => Err(anyhow::anyhow!("no master yet")),
        Err(error) => Err(error),
    };
    if let Err(error) = &samples {
        eprintln!("warning: the sample services were not created: {error:#}");
    }
    // --- web ---
    let login = match client_for(&output.cli_config, &output.api_addrs[0]) {
        Ok(client) if ready => demo_login(&client).await,
        _ => None,
    };
    let pids: Vec<u32> = children.iter().filter_map(Child::id).collect();
    let shown = Shown {
        ready,
        samples: samples.is_ok(),
        login: login.as_ref(),
    };
    print_banner(&output, &dir, &pids, &shown);
    wait_for_signal().await;
    println!("\nstopping the demo cluster...");
    stop_all(&mut children, &dir).await;
    println!("stopped; files kept in {}", dir.display());
    Ok(())
}

/// The agents that have already exited, each with the last line of its log.
fn exited_agents(children: &mut [Child], configs: &[PathBuf]) -> Vec<String> {
    let mut exited = Vec::new();
    for (index, (child, config)) in children.iter_mut().zip(configs).enumerate() {
        if let Ok(Some(status)) = child.try_wait() {
            let log =
                std::fs::read_to_string(config.with_file_name("agent.log")).unwrap_or_default();
            let last = log
                .lines()
                .rev()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("");
            exited.push(format!("node{} exited ({status}): {last}", index + 1));
        }
    }
    exited
}

fn client_for(cli_config: &std::path::Path, api_addr: &str) -> anyhow::Result<api::Client> {
    let api = cli::ApiArgs {
        api: Some(format!("https://{api_addr}")),
        token: None,
        ca: None,
        cli_config: Some(cli_config.to_path_buf()),
    };
    cli::connect(&api)
}

/// Waits (up to 30 s) until the cluster has a master and accepts the admin token.
async fn wait_for_master(cli_config: &std::path::Path, api_addr: &str) -> bool {
    let Ok(client) = client_for(cli_config, api_addr) else {
        return false;
    };
    // Ready once a master has stored the cluster's identity: before that, the API refuses
    // every authenticated call ("the cluster is still starting"), the sample services too.
    for _ in 0..300 {
        if let Ok(health) = client.health().await
            && health.master.is_some()
            && client.status().await.is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// What the banner says besides the addresses.
struct Shown<'a> {
    ready: bool,
    samples: bool,
    login: Option<&'a (String, String)>,
}

fn print_banner(
    output: &agent::setup::InitOutput,
    dir: &std::path::Path,
    pids: &[u32],
    shown: &Shown<'_>,
) {
    let (ready, samples) = (shown.ready, shown.samples);
    let state = if ready {
        "is up"
    } else {
        "is starting (no master yet)"
    };
    println!("encluster demo: a {NODES}-node cluster {state}");
    for (i, api) in output.api_addrs.iter().enumerate() {
        let pid = pids.get(i).map(|p| p.to_string()).unwrap_or_default();
        println!("  node{}  API https://{api}  (agent pid {pid})", i + 1);
    }
    println!("  admin token: {}", output.admin_token);
    println!("  files and agent logs: {}", dir.display());
    print_ui(output, shown.login);
    println!();
    println!("try, in another terminal:");
    println!(
        "  export ENCLUSTER_CLI_CONFIG={}",
        output.cli_config.display()
    );
    println!("  encluster status");
    println!("  encluster kv put greeting hello && encluster kv get greeting");
    println!("  encluster events --follow");
    if samples {
        let [one, two] = crate::samples::VIPS;
        let port = crate::samples::PORT;
        println!("  curl http://{one}:{port}/ ; curl http://{two}:{port}/   (two directors)");
        println!("  encluster resource list ; encluster lb show web1 ; encluster explain web1");
        println!("  encluster lb server drain web1 site-a ; encluster node standby 2 --wait");
        let chat = crate::samples::CHAT;
        println!(
            "  encluster chat connect {chat}   (the paper's chat: type lines, in two terminals)"
        );
        println!("  encluster group move chat --to node2 --wait   (the clients reconnect)");
        println!("  encluster resource update chat1 --param MaxUser=2   (applied live)");
    }
    println!("  kill -9 <an agent pid above> and watch `encluster status` elect a new master");
    println!();
    println!("press Ctrl-C to stop all agents");
}

/// The demo's web login: the user `admin` with a fresh random password; `None` (the UI
/// then takes the admin token) when it cannot be made.
async fn demo_login(client: &api::Client) -> Option<(String, String)> {
    let mut bytes = [0u8; 12];
    let mut random = std::fs::File::open("/dev/urandom").ok()?;
    std::io::Read::read_exact(&mut random, &mut bytes).ok()?;
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let user = api::NewUser {
        name: "admin".into(),
        role: "admin".into(),
        password: password.clone(),
    };
    match client.add_user(&user).await {
        Ok(()) => Some(("admin".into(), password)),
        Err(error) => {
            eprintln!("warning: the demo's web login was not created: {error}");
            None
        }
    }
}

/// Where the web UI is and how to sign in.
fn print_ui(output: &agent::setup::InitOutput, login: Option<&(String, String)>) {
    let Some(api) = output.api_addrs.first() else {
        return;
    };
    println!(
        "  web UI: https://{api}/  (every node serves it; the browser warns once about the \
         cluster's own CA)"
    );
    match login {
        Some((user, password)) => println!("  web login: user {user}, password {password}"),
        None => println!("  web login: the admin token, under \"Sign in with an API token\""),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Stop the agents, then the resource processes they supervised: an agent leaves them
/// running when it stops (so that restarting an agent never bounces services), but the
/// demo's resources must end with the demo.
async fn stop_all(children: &mut [Child], dir: &std::path::Path) {
    stop_agents(children).await;
    for node in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let resources = node.path().join("data").join("resources");
        for entry in std::fs::read_dir(resources).into_iter().flatten().flatten() {
            if let Some(pid) = recorded_live_pid(&entry.path().join("process.pid")) {
                let _ = nix::sys::signal::killpg(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
    }
}

async fn stop_agents(children: &mut [Child]) {
    for child in children.iter() {
        if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    for child in children.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

/// The pid in a resource's pid file (`<pid> <start time in clock ticks>`), only if that
/// process still exists with the same start time: a recycled pid is never signalled.
fn recorded_live_pid(path: &std::path::Path) -> Option<i32> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut words = text.split_whitespace();
    let pid: i32 = words.next()?.parse().ok()?;
    let start: u64 = words.next()?.parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime) counted after the command name, which ends with ')'.
    let after_name = stat.rsplit_once(')')?.1;
    let now_start: u64 = after_name.split_whitespace().nth(19)?.parse().ok()?;
    (pid > 1 && now_start == start).then_some(pid)
}
