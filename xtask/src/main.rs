//! Project automation written in Rust: `cargo xtask tidy`, `cargo xtask bench-core`,
//! `cargo xtask dist`, `cargo xtask deb`, `cargo xtask config-doc`.

mod bench;
mod config_doc;
mod deb;
mod dist;
mod tidy;

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().cloned().unwrap_or_default();
    match task.as_str() {
        "tidy" => run_tidy(),
        "bench-core" => {
            let quick = args.iter().any(|a| a == "--quick");
            // reqwest needs a process-wide rustls provider even for plain-HTTP clients.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(bench::run(bench::Settings::from_env(quick)))
        }
        "bench-lin" => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(bench::lin::run())
        }
        "bench-hosts" => {
            let runs = std::env::var("RUNS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10);
            bench::hosts::run(runs)
        }
        "bench-resources" => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let trials = std::env::var("TRIALS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20);
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(bench::resources::run(trials))
        }
        "bench-alerts" => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let trials = std::env::var("TRIALS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(100);
            let bad = std::env::var("BAD").is_ok_and(|v| v == "1");
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(bench::alerts::run(trials, bad))
        }
        "bench-query" => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let trials = std::env::var("TRIALS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(200);
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(bench::query::run(trials))
        }
        "dist" => {
            let dir = args
                .get(1)
                .map(PathBuf::from)
                .unwrap_or(target_dir()?.join("dist"));
            dist::write(&dir)
        }
        "config-doc" => config_doc::write(&workspace()?),
        "deb" => run_deb(&args[1..]),
        _ => anyhow::bail!(
            "unknown task {task:?}; known tasks: \
             tidy, bench-core [--quick], bench-resources, bench-hosts, bench-lin, bench-alerts, \
             bench-query, dist [DIR], deb [--binary PATH] [--out DIR], config-doc"
        ),
    }
}

fn run_tidy() -> anyhow::Result<()> {
    let root = std::env::current_dir()?;
    let mut problems = 0;
    for path in tidy::rust_files(&root) {
        let text = std::fs::read_to_string(&path)?;
        let name = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        for violation in tidy::check_file(&name, &text) {
            println!("{}: {}", violation.place, violation.problem);
            problems += 1;
        }
        for long in tidy::long_functions(&name, &text) {
            println!("{long}: longer than the function guideline (report only)");
        }
    }
    anyhow::ensure!(problems == 0, "{problems} tidy problems");
    Ok(())
}

/// The workspace root (where `cargo xtask` runs from).
fn workspace() -> anyhow::Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("xtask is not inside a workspace"))
}

/// `CARGO_TARGET_DIR`, else the workspace's `target`.
fn target_dir() -> anyhow::Result<PathBuf> {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(workspace()?.join("target")),
    }
}

/// `deb [--binary PATH] [--out DIR]`: the release binary into target/debian by default.
fn run_deb(args: &[String]) -> anyhow::Result<()> {
    let mut binary = target_dir()?.join("release/encluster");
    let mut out = target_dir()?.join("debian");
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args.next().map(PathBuf::from);
        match (arg.as_str(), value) {
            ("--binary", Some(path)) => binary = path,
            ("--out", Some(path)) => out = path,
            (other, _) => anyhow::bail!(
                "deb: unexpected argument {other:?}; usage: cargo xtask deb [--binary PATH] \
                 [--out DIR]"
            ),
        }
    }
    let deb = deb::build(&workspace()?, &binary, &out)?;
    println!("built {}", deb.display());
    Ok(())
}
