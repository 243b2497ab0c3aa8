//! Runs the load-balancer data plane from a TOML configuration file, for benchmarks.
//!
//! Usage: `lbbench --config FILE [--relay copy|splice] [--threads N] [--read-timeout SECS]`
//! (`--read-timeout` sets the HTTP head and body read timeouts, for the hostile matrix).
//! With one thread (the default) it runs on a current-thread runtime, like HAProxy with
//! `nbthread 1`; it stops on SIGTERM or Ctrl-C.

use std::error::Error;
use std::time::Duration;

use lb::{Director, DirectorOptions, LbConfig, TcpRelay};
use tokio::signal::unix::{SignalKind, signal};

struct Args {
    config: String,
    relay: TcpRelay,
    threads: usize,
    read_timeout: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: String::new(),
        relay: TcpRelay::Splice,
        threads: 1,
        read_timeout: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let value = words.next().ok_or(format!("{word} needs a value"))?;
        match word.as_str() {
            "--config" => args.config = value,
            "--relay" if value == "copy" => args.relay = TcpRelay::Copy,
            "--relay" if value == "splice" => args.relay = TcpRelay::Splice,
            "--threads" => args.threads = value.parse().map_err(|_| "bad --threads")?,
            "--read-timeout" => {
                let secs = value.parse().map_err(|_| "bad --read-timeout")?;
                args.read_timeout = Some(Duration::from_secs(secs));
            }
            _ => return Err(format!("unknown argument {word} {value}")),
        }
    }
    if args.config.is_empty() || args.threads == 0 {
        return Err("usage: lbbench --config FILE [--relay copy|splice] [--threads N]".to_owned());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let config: LbConfig = toml::from_str(&std::fs::read_to_string(&args.config)?)?;
    let runtime = match args.threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        threads => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?,
    };
    runtime.block_on(async move {
        let recommended = DirectorOptions::recommended();
        let options = DirectorOptions {
            tcp_relay: args.relay,
            shutdown_grace: Duration::from_secs(1),
            header_read_timeout: args.read_timeout.unwrap_or(recommended.header_read_timeout),
            body_read_timeout: args.read_timeout.unwrap_or(recommended.body_read_timeout),
        };
        let mut director = Director::new(options);
        director.apply(&config).await?;
        eprintln!(
            "lbbench: {} service(s) running, relay {:?}",
            config.services.len(),
            args.relay
        );
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        director.shutdown().await;
        Ok(())
    })
}
