//! Samplers of the host and of the agent's own process, from the kernel's figures (read
//! with the `procfs` crate, never by hand).
//!
//! A sampler returns raw samples: gauges as they are, counters as running totals, whose
//! rates the archives compute (so CPU seconds become the share of a core in use). A figure
//! the kernel does not give (no swap, no disk stats for the data directory's device in a
//! container) is left out rather than failing the round: sampling never stops the agent.

use std::path::Path;

use procfs::{Current, CurrentSI};

use crate::archive::Kind;

/// One figure at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' name, Prometheus-style (`host_cpu_seconds`).
    pub name: &'static str,
    /// Labels beside the node's (`mode=user`, `interface=eth0`), sorted by key.
    pub labels: Vec<(&'static str, String)>,
    /// Gauge or counter.
    pub kind: Kind,
    /// The value: a gauge's reading or a counter's total.
    pub value: f64,
}

fn gauge(name: &'static str, value: f64) -> Sample {
    Sample {
        name,
        labels: Vec::new(),
        kind: Kind::Gauge,
        value,
    }
}

fn counter(name: &'static str, label: (&'static str, &str), value: f64) -> Sample {
    Sample {
        name,
        labels: vec![(label.0, label.1.to_owned())],
        kind: Kind::Counter,
        value,
    }
}

/// The host: CPU by mode, load, memory, swap, the data directory's disk space and I/O,
/// each interface's traffic.
pub fn sample_host(data_dir: &Path) -> Vec<Sample> {
    let mut out = Vec::new();
    cpu(&mut out);
    if let Ok(load) = procfs::LoadAverage::current() {
        out.push(gauge("host_load1", f64::from(load.one)));
    }
    if let Ok(memory) = procfs::Meminfo::current() {
        let available = memory.mem_available.unwrap_or(memory.mem_free);
        out.push(gauge("host_memory_total_bytes", memory.mem_total as f64));
        out.push(gauge("host_memory_available_bytes", available as f64));
        let swap_used = memory.swap_total.saturating_sub(memory.swap_free);
        out.push(gauge("host_swap_used_bytes", swap_used as f64));
    }
    disk(data_dir, &mut out);
    if let Ok(interfaces) = procfs::net::dev_status() {
        let mut interfaces: Vec<_> = interfaces.into_values().collect();
        interfaces.sort_by(|a, b| a.name.cmp(&b.name));
        for device in interfaces {
            let label = ("interface", device.name.as_str());
            for (name, value) in [
                ("host_network_receive_bytes", device.recv_bytes),
                ("host_network_transmit_bytes", device.sent_bytes),
                ("host_network_receive_packets", device.recv_packets),
                ("host_network_transmit_packets", device.sent_packets),
                ("host_network_receive_errors", device.recv_errs),
                ("host_network_transmit_errors", device.sent_errs),
                ("host_network_receive_drops", device.recv_drop),
                ("host_network_transmit_drops", device.sent_drop),
            ] {
                out.push(counter(name, label, value as f64));
            }
        }
    }
    out
}

/// CPU seconds by mode, summed over all CPUs: their rate is the number of cores busy.
fn cpu(out: &mut Vec<Sample>) {
    let Ok(stats) = procfs::KernelStats::current() else {
        return;
    };
    let ticks = procfs::ticks_per_second() as f64;
    let total = stats.total;
    for (mode, value) in [
        ("user", Some(total.user + total.nice)),
        ("system", Some(total.system)),
        ("idle", Some(total.idle)),
        ("iowait", total.iowait),
        ("steal", total.steal),
    ] {
        if let Some(value) = value {
            out.push(counter(
                "host_cpu_seconds",
                ("mode", mode),
                value as f64 / ticks,
            ));
        }
    }
}

/// The data directory's file system (space) and block device (bytes read and written).
fn disk(data_dir: &Path, out: &mut Vec<Sample>) {
    if let Ok(space) = nix::sys::statvfs::statvfs(data_dir) {
        let fragment = space.fragment_size() as f64;
        out.push(gauge(
            "host_data_disk_total_bytes",
            space.blocks() as f64 * fragment,
        ));
        out.push(gauge(
            "host_data_disk_available_bytes",
            space.blocks_available() as f64 * fragment,
        ));
        // Used as `df` counts it (the part not available to users), for threshold rules
        // such as `host_data_disk_used_ratio > 0.9 for 1m`.
        if space.blocks() > 0 {
            let available = space.blocks_available() as f64 / space.blocks() as f64;
            out.push(gauge("host_data_disk_used_ratio", 1.0 - available));
        }
    }
    let Ok(meta) = std::fs::metadata(data_dir) else {
        return;
    };
    let device = std::os::unix::fs::MetadataExt::dev(&meta);
    let (major, minor) = (nix::sys::stat::major(device), nix::sys::stat::minor(device));
    let Ok(disks) = procfs::diskstats() else {
        return;
    };
    let Some(disk) = disks
        .iter()
        .find(|d| d.major as u64 == major && d.minor as u64 == minor)
    else {
        return;
    };
    // /proc/diskstats counts 512-byte sectors whatever the device's sector size.
    let label = ("device", disk.name.as_str());
    out.push(counter(
        "host_data_disk_read_bytes",
        label,
        disk.sectors_read as f64 * 512.0,
    ));
    out.push(counter(
        "host_data_disk_written_bytes",
        label,
        disk.sectors_written as f64 * 512.0,
    ));
}

/// The agent's own process: resident memory, CPU seconds, open files.
pub fn sample_process() -> Vec<Sample> {
    let mut out = Vec::new();
    let Ok(process) = procfs::process::Process::myself() else {
        return out;
    };
    if let Ok(stat) = process.stat() {
        let ticks = procfs::ticks_per_second() as f64;
        let seconds = (stat.utime + stat.stime) as f64 / ticks;
        out.push(Sample {
            name: "agent_cpu_seconds",
            labels: Vec::new(),
            kind: Kind::Counter,
            value: seconds,
        });
        let rss = stat.rss as f64 * procfs::page_size() as f64;
        out.push(gauge("agent_resident_bytes", rss));
    }
    if let Ok(count) = process.fd_count() {
        out.push(gauge("agent_open_files", count as f64));
    }
    out
}
