//! Health probes of a supervised process: a TCP connect, or an HTTP GET expecting 2xx/3xx.
//!
//! The HTTP probe is plain HTTP/1.0 written by hand over a `TcpStream`: it needs only the
//! status line, and a full client would be a large dependency for one request.

use crate::limits::HTTP_RESPONSE_HEAD_BYTES_MAX;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One configured probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Connect to `address` (`host:port`).
    Tcp { address: String },
    /// GET `path` from `address`, sending `Host: host`.
    Http {
        url: String,
        address: String,
        host: String,
        path: String,
    },
    /// Run a program (a user type's command check) with `env` in `cwd`: exit status 0
    /// means healthy. Its process group is killed when the timeout runs out.
    Command {
        command: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
        cwd: std::path::PathBuf,
    },
}

impl Probe {
    /// Parses `host:port`.
    pub(crate) fn tcp(text: &str) -> Result<Probe, String> {
        let address = text.trim();
        check_host_port(address).map_err(|why| format!("probe_tcp: {address:?} {why}"))?;
        Ok(Probe::Tcp {
            address: address.to_owned(),
        })
    }

    /// Parses `http://host[:port][/path]`; https is not supported.
    pub(crate) fn http(text: &str) -> Result<Probe, String> {
        if text.chars().any(char::is_control) {
            return Err(format!(
                "probe_http: {text:?} contains a line break or another control character: \
                 give one URL like http://127.0.0.1:8080/health"
            ));
        }
        let url = text.trim();
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("probe_http: {url:?} must start with http:// (https is not supported)")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let address = if has_port(authority) {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        check_host_port(&address).map_err(|why| format!("probe_http: {url:?} {why}"))?;
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "probe_http: {url:?} has spaces or control characters in its path"
            ));
        }
        Ok(Probe::Http {
            url: url.to_owned(),
            address,
            host: authority.to_owned(),
            path: path.to_owned(),
        })
    }

    /// Runs the probe once within `timeout`; the error says what failed, in plain words.
    pub(crate) async fn check(&self, timeout: Duration) -> Result<(), String> {
        let attempt = async {
            match self {
                Probe::Tcp { address } => connect(address).await.map(drop),
                Probe::Http {
                    address,
                    host,
                    path,
                    ..
                } => http_get(address, host, path).await,
                Probe::Command { .. } => self.run_command(timeout).await,
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result.map_err(|why| format!("{} failed: {why}", self.describe())),
            Err(_) => Err(format!(
                "{} got no answer within {timeout:?}",
                self.describe()
            )),
        }
    }

    fn describe(&self) -> String {
        match self {
            Probe::Tcp { address } => format!("TCP probe of {address}"),
            Probe::Http { url, .. } => format!("HTTP probe of {url}"),
            Probe::Command { command, .. } => format!("check command {command}"),
        }
    }

    /// Runs a command probe: its own bound kills the group just before the outer timeout.
    async fn run_command(&self, timeout: Duration) -> Result<(), String> {
        let Probe::Command {
            command,
            args,
            env,
            cwd,
        } = self
        else {
            unreachable!("only called for command probes");
        };
        let mut child = tokio::process::Command::new(command);
        child
            .args(args)
            .envs(env.iter().map(|(key, value)| (key, value)))
            .current_dir(cwd);
        let bound = timeout
            .saturating_sub(crate::limits::KILL_WAIT)
            .max(timeout / 2);
        let result = crate::child::run_bounded(child, bound, crate::limits::OUTPUT_TAIL_BYTES)
            .await
            .map_err(|error| format!("cannot run it ({error})"))?;
        match result.end {
            crate::child::RunEnd::Exited(status) if status.success() => Ok(()),
            crate::child::RunEnd::Exited(status) => {
                let output =
                    crate::child::last_lines(&format!("{}{}", result.stdout, result.stderr), 3);
                let how = crate::child::describe_exit(&status);
                if output.is_empty() {
                    Err(how)
                } else {
                    Err(format!("{how}; last output: {output}"))
                }
            }
            crate::child::RunEnd::TimedOut => Err(format!("did not finish within {bound:?}")),
        }
    }
}

fn has_port(authority: &str) -> bool {
    // An IPv6 literal is bracketed, so only a colon after the closing bracket is a port.
    match authority.rfind(']') {
        Some(bracket) => authority[bracket..].contains(':'),
        None => authority.contains(':'),
    }
}

fn check_host_port(address: &str) -> Result<(), &'static str> {
    let colon = address.rfind(':').ok_or("is not host:port")?;
    let (host, port) = (&address[..colon], &address[colon + 1..]);
    if host.is_empty() {
        return Err("has no host");
    }
    match port.parse::<u16>() {
        Ok(port) if port != 0 => Ok(()),
        _ => Err("has no valid port (1-65535)"),
    }
}

async fn connect(address: &str) -> Result<TcpStream, String> {
    TcpStream::connect(address)
        .await
        .map_err(|error| error.to_string())
}

async fn http_get(address: &str, host: &str, path: &str) -> Result<(), String> {
    let mut stream = connect(address).await?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: encluster-probe\r\n\
         Connection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|error| error.to_string())?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.contains(&b'\n') && head.len() < HTTP_RESPONSE_HEAD_BYTES_MAX {
        let count = stream
            .read(&mut buffer)
            .await
            .map_err(|error| error.to_string())?;
        if count == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..count]);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    let code = parse_status_code(status_line)
        .ok_or_else(|| format!("the answer {status_line:?} is not HTTP"))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("status {code}"))
    }
}

/// Parses the code of a status line such as `HTTP/1.1 204 No Content`.
pub(crate) fn parse_status_code(status_line: &str) -> Option<u16> {
    let mut words = status_line.split_whitespace();
    let version = words.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    words.next()?.parse().ok()
}
