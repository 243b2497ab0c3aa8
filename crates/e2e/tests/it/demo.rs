//! The README's first command: `encluster demo` starts a local three-node cluster with its
//! sample site behind two directors, serves it on both VIPs, runs the paper's chat on its
//! own VIP, and on Ctrl-C stops every agent and every process the agents started.
//! It uses the demo's fixed addresses (127.0.0.11-13, VIPs 127.0.0.100-101, backends on
//! ports 18081-18083), so it fails, clearly, while another demo runs on this machine.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long the demo may take to start its cluster and samples (a debug build on 2 cores).
const START: Duration = Duration::from_secs(90);
/// How long anything else may take.
const SETTLE: Duration = Duration::from_secs(30);
const VIPS: [&str; 2] = ["127.0.0.100:8080", "127.0.0.101:8080"];
const BACKEND_PORTS: [u16; 3] = [18081, 18082, 18083];
const CHAT: &str = "127.0.0.102:7000";
const CHAT_ADDR: (&str, u16) = ("127.0.0.102", 7000);

/// The banner's web UI address and login work: the password signs in as an administrator
/// and the UI's page comes back from that address.
fn web_login_works(banner: &[String], dir: &str) {
    let after = |prefix: &str| {
        banner
            .iter()
            .find_map(|line| line.split(prefix).nth(1).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {prefix:?} in the banner: {banner:#?}"))
    };
    let address = after("web UI: https://");
    let address = address.split('/').next().expect("host:port").to_owned();
    let password = after("web login: user admin, password ").trim().to_owned();
    let ca = std::fs::read_to_string(std::path::Path::new(dir).join("ca.pem")).expect("ca.pem");
    let tls = auth::client_config(&ca, None).expect("client TLS config");
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .timeout(SETTLE)
        .build()
        .expect("client");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let login = serde_json::json!({ "user": "admin", "password": password });
        let answer = (client
            .post(format!("https://{address}/v1/session"))
            .json(&login))
        .send()
        .await
        .expect("the agent answers");
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.expect("JSON");
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        assert_eq!(body["role"], "admin", "{body}");
        let page = (client.get(format!("https://{address}/")).send().await)
            .expect("the UI answers")
            .text()
            .await
            .expect("text");
        assert!(page.contains("<html"), "{page}");
    });
}

/// The chat's first line to a new client, if it answers.
fn chat_greeting() -> Option<String> {
    let stream = TcpStream::connect_timeout(&CHAT.parse().ok()?, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    Some(line)
}

/// The demo process; killed with its agents if the test fails before stopping it.
struct Demo {
    child: Child,
    agents: Vec<i32>,
    dir: Option<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            for pid in &self.agents {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// One GET of `/` through `addr`: the body, if the answer was a 200.
fn get(addr: &str) -> Option<String> {
    let mut stream =
        TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: demo\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.starts_with(" Z"))
        })
}

#[test]
fn the_demo_serves_its_site_on_both_vips_and_stops_everything_on_ctrl_c() {
    let _one_demo = e2e::ONE_DEMO.blocking_lock();
    let child = Command::new(e2e::binary())
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the demo");
    let mut demo = Demo {
        child,
        agents: Vec::new(),
        dir: None,
    };
    let stdout = demo.child.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + START;
    let mut banner = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no demo banner within {START:?}; got {banner:#?}"));
        if let Some(pid) = line.split("(agent pid ").nth(1) {
            let pid = pid.trim_end_matches(')').parse().expect("an agent pid");
            demo.agents.push(pid);
        }
        if let Some(dir) = line.split("files and agent logs: ").nth(1) {
            demo.dir = Some(dir.trim().to_string());
        }
        let done = line.contains("press Ctrl-C");
        banner.push(line);
        if done {
            break;
        }
    }
    assert_eq!(demo.agents.len(), 3, "three agents in {banner:#?}");
    assert!(
        banner.iter().any(|line| line.contains("two directors")),
        "the sample services were created: {banner:#?}"
    );

    for vip in VIPS {
        let deadline = Instant::now() + SETTLE;
        loop {
            if get(vip).is_some_and(|body| body.contains("Hello from encluster")) {
                break;
            }
            assert!(Instant::now() < deadline, "{vip} never served the site");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    assert!(
        banner
            .iter()
            .any(|line| line.contains(&format!("encluster chat connect {CHAT}"))),
        "the banner says how to talk to the chat: {banner:#?}"
    );
    let deadline = Instant::now() + SETTLE;
    loop {
        if chat_greeting().is_some_and(|line| line.starts_with("* welcome to chat")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the chat never greeted on {CHAT}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    web_login_works(&banner, demo.dir.as_deref().expect("the demo's directory"));

    let pid = Pid::from_raw(i32::try_from(demo.child.id()).expect("a pid"));
    kill(pid, Signal::SIGINT).expect("Ctrl-C the demo");
    let deadline = Instant::now() + SETTLE;
    let status = loop {
        if let Some(status) = demo.child.try_wait().expect("wait for the demo") {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the demo exited with {status}");
    for agent in &demo.agents {
        assert!(!alive(*agent), "agent {agent} outlived the demo");
    }
    // The backends are processes the agents started: they must be gone too.
    let deadline = Instant::now() + SETTLE;
    for port in BACKEND_PORTS {
        while TcpStream::connect(("127.0.0.1", port)).is_ok()
            || TcpStream::connect(CHAT_ADDR).is_ok()
        {
            assert!(
                Instant::now() < deadline,
                "a backend on {port} or the chat on {CHAT} outlived the demo"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
