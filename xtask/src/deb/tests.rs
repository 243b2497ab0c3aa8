//! The Debian package end to end: built from the debug binary, checked by lintian, installed
//! with `dpkg --root` into a clean root made here, and run from that root (chroot) the way
//! its systemd unit runs it: the unit's ExecStart and EnvironmentFile, a notify socket this
//! test listens on and the unit's WatchdogSec, confined as the unit confines it (its
//! CapabilityBoundingSet, ProtectSystem=full, ProtectHome=read-only and PrivateTmp, applied
//! here with a mount namespace and `PR_CAPBSET_DROP`, since no systemd runs the test; the
//! kernel protections are left to `systemd-analyze verify`). The agent must say READY=1,
//! raise its priority (so the bounding set holds what it needs at start), then pet the
//! watchdog, then say STOPPING=1 on SIGTERM, and log plain text (JSON when asked);
//! `--version` and a man page must work from the root.
//!
//! It needs root (chroot, dpkg --root) and lintian; under CI (CI set) a missing one fails
//! the test, elsewhere the test says why it did not run.

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use super::{ENV_PATH, UNIT_PATH, VERSION, build, output};

/// Lintian warnings the package keeps, each with why it cannot be fixed here. Any other
/// warning, and every error, fails the test.
const WARNINGS_KEPT: &[(&str, &str)] = &[];

/// How long the agent may take to serve or to stop (a deadline, not a pause).
const DEADLINE: Duration = Duration::from_secs(60);

/// Whether this test can run here; `false` (with the reason printed) only outside CI.
fn can_run() -> bool {
    let mut missing = Vec::new();
    if !nix::unistd::Uid::effective().is_root() {
        missing.push("root (for chroot and dpkg --root)".to_owned());
    }
    for tool in [
        "lintian",
        "man",
        "dpkg-deb",
        "strip",
        "objdump",
        "systemd-analyze",
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|result| result.status.success());
        if !found {
            missing.push(format!(
                "{tool} (apt-get install lintian man-db binutils systemd)"
            ));
        }
    }
    if missing.is_empty() {
        return true;
    }
    let message = format!("the package test needs {}", missing.join(", "));
    assert!(
        std::env::var_os("CI").is_none(),
        "{message}; under CI it must run"
    );
    eprintln!("NOT RUN: {message}");
    false
}

/// The debug binary next to this test's own (`target/debug`), or `ENCLUSTER_BIN`.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ENCLUSTER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test's path");
    let debug = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/debug/deps/..");
    let binary = debug.join("encluster");
    assert!(
        binary.is_file(),
        "{} is missing; build it first: cargo build -p encluster",
        binary.display()
    );
    binary
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("a workspace")
        .to_path_buf()
}

#[test]
fn package_installs_into_a_clean_root_and_its_agent_runs_under_the_units_options() {
    if !can_run() {
        return;
    }
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let deb = build(&workspace(), &binary(), &scratch.path().join("out")).expect("the .deb");
    check_lintian(&deb);
    let root = scratch.path().join("root");
    install(&deb, &root);
    check_contents(&root);
    check_unit(&root);
    let version = output(
        Command::new("chroot")
            .arg(&root)
            .args(["/usr/bin/encluster", "--version"]),
    )
    .expect("encluster --version runs in the root");
    assert!(version.contains(VERSION), "{version}");
    assert!(version.contains("(commit "), "{version}");
    let page = root.join("usr/share/man/man1/encluster-agent.1.gz");
    let rendered = output(
        Command::new("man")
            .env("MANWIDTH", "80")
            .args(["-P", "cat", "-l"])
            .arg(&page),
    )
    .expect("man -l renders the page");
    assert!(rendered.contains("encluster-agent"), "{rendered}");
    assert!(rendered.contains("--config"), "{rendered}");
    run_agent_like_the_unit(&root);
}

/// lintian finds no error, and no warning but the ones kept on purpose.
fn check_lintian(deb: &Path) {
    let result = Command::new("lintian")
        .args(["--tag-display-limit", "0", "--display-level", ">=warning"])
        .arg(deb)
        .output()
        .expect("lintian runs");
    let report = String::from_utf8_lossy(&result.stdout);
    let problems: Vec<&str> = report
        .lines()
        .filter(|line| line.starts_with("E:") || line.starts_with("W:"))
        .filter(|line| {
            !WARNINGS_KEPT
                .iter()
                .any(|(tag, _)| line.contains(&format!(" {tag}")))
        })
        .collect();
    assert!(problems.is_empty(), "lintian:\n{}", problems.join("\n"));
    assert!(
        result.status.success(),
        "lintian failed ({}): {report}{}",
        result.status,
        String::from_utf8_lossy(&result.stderr)
    );
}

/// systemd's own reading of the installed unit: no unknown key, no bad value. Its only
/// complaint may be that this host has no /usr/bin/encluster (the unit is read from the
/// root, its ExecStart checked on the host).
fn check_unit(root: &Path) {
    let result = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(root.join(UNIT_PATH))
        .output()
        .expect("systemd-analyze runs");
    let report = String::from_utf8_lossy(&result.stderr);
    let problems: Vec<&str> = report
        .lines()
        .filter(|line| !line.contains("Command /usr/bin/encluster is not executable"))
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert!(problems.is_empty(), "systemd-analyze verify:\n{report}");
}

/// `dpkg --root` into an empty root with its own database; then the shared libraries the
/// binary links, copied from this host, so that it runs in the root (the package's
/// Depends, which a real system has).
fn install(deb: &Path, root: &Path) {
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(root.join(dir)).expect("the dpkg database");
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").expect("an empty status");
    super::run(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args([
                "--force-depends",
                "--force-script-chrootless",
                "--log=/dev/null",
                "-i",
            ])
            .arg(deb),
    )
    .expect("dpkg installs the package into the root");
    copy_libraries(root, &root.join("usr/bin/encluster"));
    // The test's own tool for the unit's bounding set (`confined`), not the package's.
    let setpriv = root.join(SETPRIV);
    std::fs::create_dir_all(setpriv.parent().expect("a parent")).expect("usr/local/sbin");
    std::fs::copy("/usr/bin/setpriv", &setpriv).expect("copy setpriv (util-linux)");
    copy_libraries(root, &setpriv);
}

/// The shared libraries `binary` links, copied from this host into the same paths in `root`.
fn copy_libraries(root: &Path, binary: &Path) {
    let libraries = output(Command::new("ldd").arg(binary)).expect("ldd");
    for word in libraries
        .split_whitespace()
        .filter(|word| word.starts_with('/'))
    {
        let target = root.join(word.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("a library dir");
        std::fs::copy(word, &target).expect("copy a library");
    }
}

/// What dpkg says it installed: the files Debian policy and the operator expect.
fn check_contents(root: &Path) {
    let listing = output(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(["-L", "encluster"]),
    )
    .expect("dpkg -L");
    for path in [
        "/usr/bin/encluster",
        &format!("/{UNIT_PATH}"),
        &format!("/{ENV_PATH}"),
        "/var/lib/encluster",
        "/usr/share/man/man1/encluster.1.gz",
        "/usr/share/man/man1/encluster-resource-create.1.gz",
        "/usr/share/bash-completion/completions/encluster",
        "/usr/share/zsh/vendor-completions/_encluster",
        "/usr/share/fish/vendor_completions.d/encluster.fish",
        "/usr/share/doc/encluster/copyright",
        "/usr/share/doc/encluster/changelog.gz",
        "/usr/share/doc/encluster/config.md",
    ] {
        assert!(
            listing.lines().any(|line| line == path),
            "{path} is not installed:\n{listing}"
        );
    }
    let conffiles = output(
        Command::new("dpkg-query")
            .arg(format!("--admindir={}/var/lib/dpkg", root.display()))
            .args(["-W", "-f=${Conffiles}", "encluster"]),
    )
    .expect("dpkg-query");
    assert!(conffiles.contains(&format!("/{ENV_PATH}")), "{conffiles}");
}

/// The `[Service]` settings of the installed unit, by name.
fn unit_service(root: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root.join(UNIT_PATH)).expect("the installed unit");
    let mut settings = BTreeMap::new();
    let mut in_service = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if in_service
            && !line.starts_with('#')
            && let Some((key, value)) = line.split_once('=')
        {
            settings.insert(key.to_owned(), value.to_owned());
        }
    }
    settings
}

/// `KEY=VALUE` lines of an environment file, comments and blanks skipped.
fn environment_file(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).expect("the environment file");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// A process killed when the test ends, whichever way it ends.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The unit's settings, checked, and the environment its EnvironmentFile gives.
struct UnitRun {
    exec: Vec<String>,
    environment: Vec<(String, String)>,
    watchdog: Duration,
    /// The capabilities of `CapabilityBoundingSet`, by number.
    bounding: Vec<u32>,
    /// The same, by name (`CAP_NET_ADMIN`).
    bounding_names: Vec<String>,
}

fn unit_run(root: &Path) -> UnitRun {
    let unit = unit_service(root);
    assert_eq!(unit.get("Type").map(String::as_str), Some("notify"));
    assert_eq!(unit.get("Restart").map(String::as_str), Some("on-failure"));
    let watchdog = humantime::parse_duration(&unit["WatchdogSec"]).expect("WatchdogSec");
    let env_file = unit["EnvironmentFile"]
        .trim_start_matches('-')
        .trim_start_matches('/');
    // The confinement `confine` applies: these exact settings.
    assert_eq!(unit.get("ProtectSystem").map(String::as_str), Some("full"));
    assert_eq!(
        unit.get("ProtectHome").map(String::as_str),
        Some("read-only")
    );
    assert_eq!(unit.get("PrivateTmp").map(String::as_str), Some("yes"));
    let bounding_names: Vec<String> = unit["CapabilityBoundingSet"]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let bounding = bounding_names
        .iter()
        .map(|name| capability_number(name))
        .collect();
    UnitRun {
        exec: unit["ExecStart"]
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        environment: environment_file(&root.join(env_file)),
        watchdog,
        bounding,
        bounding_names,
    }
}

/// The number of a capability the unit names (linux/capability.h).
fn capability_number(name: &str) -> u32 {
    const KNOWN: &[(&str, u32)] = &[
        ("CAP_CHOWN", 0),
        ("CAP_DAC_OVERRIDE", 1),
        ("CAP_DAC_READ_SEARCH", 2),
        ("CAP_FOWNER", 3),
        ("CAP_FSETID", 4),
        ("CAP_KILL", 5),
        ("CAP_SETGID", 6),
        ("CAP_SETUID", 7),
        ("CAP_SETPCAP", 8),
        ("CAP_NET_BIND_SERVICE", 10),
        ("CAP_NET_BROADCAST", 11),
        ("CAP_NET_ADMIN", 12),
        ("CAP_NET_RAW", 13),
        ("CAP_IPC_LOCK", 14),
        ("CAP_SYS_CHROOT", 18),
        ("CAP_SYS_PTRACE", 19),
        ("CAP_SYS_ADMIN", 21),
        ("CAP_SYS_NICE", 23),
        ("CAP_SYS_RESOURCE", 24),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, number)| *number)
        .unwrap_or_else(|| panic!("the unit names {name}: add its number to this table"))
}

/// Where the test puts util-linux's `setpriv` in the root (with the libraries it links):
/// the bounding set must be dropped after the chroot, which itself needs CAP_SYS_CHROOT.
const SETPRIV: &str = "usr/local/sbin/setpriv";

/// Mounts as the unit's ProtectSystem=full, ProtectHome=read-only and PrivateTmp do, in the
/// mount namespace `unshare` made: `$1` is the root; the rest runs chrooted there.
const CONFINE: &str = r#"set -e
root=$1
shift
mount --make-rprivate /
for dir in usr boot etc home root run/user; do
  if [ -d "$root/$dir" ]; then
    mount --bind "$root/$dir" "$root/$dir"
    mount -o remount,bind,ro "$root/$dir"
  fi
done
mkdir -p "$root/tmp"
mount -t tmpfs tmpfs "$root/tmp"
exec chroot "$root" "$@""#;

/// `exec` run from `root` confined as the unit confines the agent: in a mount namespace of
/// its own where `/usr`, `/boot` and `/etc` and `/home`, `/root` and `/run/user` are
/// read-only and `/tmp` is a fresh tmpfs, chrooted, and with every capability outside
/// `bounding` dropped from the bounding set (by `setpriv`, so the agent runs as it would
/// under systemd: same pid through every `exec`).
fn confined(root: &Path, unit: &UnitRun) -> Command {
    let caps: Vec<String> = unit
        .bounding_names
        .iter()
        .map(|name| format!("+{}", name.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--", "sh", "-c", CONFINE, "confine"])
        .arg(root)
        .arg(format!("/{SETPRIV}"))
        .arg(format!("--bounding-set=-all,{}", caps.join(",")))
        .args(&unit.exec);
    command
}

/// The running agent is confined as the unit says: its bounding set is exactly the unit's,
/// and `/usr` and `/etc` are read-only mounts in its namespace.
fn check_confinement(pid: u32, bounding: &[u32]) {
    let bounding_of = |pid: &str| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("a status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("CapBnd:"))
            .map(|hex| u64::from_str_radix(hex.trim(), 16).expect("a hex mask"))
            .expect("CapBnd in /proc/PID/status")
    };
    let found = bounding_of(&pid.to_string());
    // A bounding set only shrinks: what this test itself lacks (a container may withhold
    // CAP_SYS_RESOURCE) the agent cannot have either.
    let ours = bounding_of("self");
    let wanted = bounding.iter().fold(0u64, |mask, cap| mask | (1 << cap)) & ours;
    assert_eq!(
        found, wanted,
        "the agent's bounding set {found:#x} is not the unit's {wanted:#x}"
    );
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    for point in ["/usr", "/etc"] {
        let read_only = mounts.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(4) == Some(&point)
                && fields
                    .get(5)
                    .is_some_and(|options| options.split(',').any(|option| option == "ro"))
        });
        assert!(
            read_only,
            "{point} is not read-only for the agent:\n{mounts}"
        );
    }
}

fn run_agent_like_the_unit(root: &Path) {
    let unit = unit_run(root);
    let config = unit
        .environment
        .iter()
        .find(|(key, _)| key == "ENCLUSTER_CONFIG")
        .map(|(_, value)| value.clone())
        .expect("the environment file names the config");
    let node_dir = Path::new(&config).parent().expect("a directory");
    let (peer, api) = (free_port(), free_port());
    output(
        Command::new("chroot")
            .arg(root)
            .args(["/usr/bin/encluster", "init", "--dir"])
            .arg(node_dir)
            .arg(format!("--peer-addr=127.0.0.1:{peer}"))
            .arg(format!("--api-addr=127.0.0.1:{api}")),
    )
    .expect("encluster init in the root");
    std::fs::create_dir_all(root.join("run/encluster")).expect("the runtime directory");
    let socket = UnixDatagram::bind(root.join("run/encluster/notify")).expect("the socket");
    socket.set_read_timeout(Some(DEADLINE)).expect("a deadline");
    // As the unit runs it: text logs to the journal, never an escape code.
    let log = serve_and_stop(root, &unit, &socket, &[], 2);
    assert!(log.contains("Agent started"), "{log}");
    // Its priority needs CAP_SYS_NICE: the unit's bounding set must hold it.
    assert!(log.contains("Agent runs above normal priority"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "escape codes in a log that is no terminal:\n{log}"
    );
    // Asked for JSON: one object per line, with the level and the message.
    let log = serve_and_stop(root, &unit, &socket, &[("ENCLUSTER_LOG_FORMAT", "json")], 1);
    for line in log.lines() {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
        assert!(object["level"].is_string(), "{line}");
        assert!(object["fields"]["message"].is_string(), "{line}");
    }
    assert!(log.contains("Agent started"), "{log}");
}

/// Start the agent like the unit (plus `extra` environment), wait for READY=1 and `pets`
/// watchdog pets, stop it with SIGTERM; its standard error.
fn serve_and_stop(
    root: &Path,
    unit: &UnitRun,
    socket: &UnixDatagram,
    extra: &[(&str, &str)],
    pets: usize,
) -> String {
    let mut child = confined(root, unit)
        .env_clear()
        .envs(unit.environment.iter().map(|(key, value)| (key, value)))
        .envs(extra.iter().copied())
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("NOTIFY_SOCKET", "/run/encluster/notify")
        .env("WATCHDOG_USEC", unit.watchdog.as_micros().to_string())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the agent starts");
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).map(|_| text)
    });
    let agent = Agent(child);
    let ready = receive(socket, "READY=1");
    assert!(
        ready.contains(&format!("MAINPID={}", agent.0.id())),
        "{ready}"
    );
    check_confinement(agent.0.id(), &unit.bounding);
    for _ in 0..pets {
        receive(socket, "WATCHDOG=1");
    }
    stop(agent, socket);
    reader
        .join()
        .expect("the reader ends")
        .expect("the agent's standard error")
}

fn stop(mut agent: Agent, socket: &UnixDatagram) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(agent.0.id()).expect("a pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    receive(socket, "STOPPING=1");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = agent.0.try_wait().expect("the agent's status") {
            break status;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the agent did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "the agent exited with {status} on SIGTERM"
    );
}

/// The next notification that starts with `expected`, within the deadline.
fn receive(socket: &UnixDatagram, expected: &str) -> String {
    let mut buffer = [0u8; 1024];
    loop {
        let length = socket
            .recv(&mut buffer)
            .unwrap_or_else(|error| panic!("no {expected} from the agent: {error}"));
        let message = String::from_utf8_lossy(&buffer[..length]).into_owned();
        if message.starts_with(expected) {
            return message;
        }
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
