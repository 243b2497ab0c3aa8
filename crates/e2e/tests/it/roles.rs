//! Every role fails in turn while a client uses the site: a web service of three real
//! servers behind one virtual service with two VIPs, so two directors, on a five-host bed,
//! the master in standby so that it runs nothing. For each role (plain real server,
//! director, master) and each fault (crash, hang, link cut), the fault hits a host with that
//! role, stays until the cluster has reacted, and heals. The client sends a request to each
//! VIP every 10 ms throughout; per VIP the scenario records the gap (the longest time
//! between two answers) and the failed requests, and asserts that requests failed only
//! within that gap, that no two hosts held a VIP at one instant, and that the site converged
//! again (one holder per VIP, all three real servers healthy in both directors). Last, every
//! host but one goes to standby and both VIPs must answer from that one. From the site's
//! first placement to the end, no two hosts hold a VIP at one instant (the address audit),
//! and the operation-log audit of the whole run passes: no VIP ran on two hosts at once,
//! tokens only grow, every replica holds the same log.
//! Figures: bench/results/roles-2026-11-21.md.
//! Runs when RUN_NETNS_TESTS=1 (as root; the test command sets it under CI).

use std::time::{Duration, Instant};

use e2e::netns::enabled;
use e2e::site::{Fault, Held, Layout, Outage, PORT, Role, SERVICE, Site, wait_for};

/// Hosts: three real servers, two directors (one may share a host with a server) and the
/// master, each on a host of its own where the bed allows.
const HOSTS: usize = 5;
/// Service before the fault, so that the gap is measured against a working site.
const BEFORE: Duration = Duration::from_secs(1);
/// How long the fault stays after the cluster has reacted to it.
const HOLD: Duration = Duration::from_secs(1);
/// Service after the site converged again.
const AFTER: Duration = Duration::from_millis(500);

/// One scenario's figures.
struct Row {
    role: Role,
    fault: Fault,
    host: u64,
    roles: Vec<&'static str>,
    outages: Vec<Outage>,
    /// VIP holders while the site settled for the scenario, and during it.
    held: [Held; 2],
    /// When the scenario began, to time the double holdings from.
    origin: Instant,
    /// When the fault was injected, to time failed requests from.
    fault_at: Instant,
}

/// Wait until the cluster has reacted to the fault on `host`: it sees the host down, each
/// VIP is held by exactly one other host, and both VIPs answer requests sent after that.
fn reacted(site: &Site, host: u64) {
    wait_for("the cluster to see the faulted host down", || {
        site.sees_down(host).then_some(())
    });
    wait_for("each VIP on exactly one host without the fault", || {
        let holders = site.audit.holders();
        holders
            .iter()
            .all(|held| held.len() == 1 && held[0] != host)
            .then_some(())
    });
    let since = Instant::now();
    wait_for("both VIPs answering", || {
        site.client
            .answered_since(since, site.vips.len())
            .then_some(())
    });
}

fn scenario(site: &mut Site, role: Role, fault: Fault) -> Row {
    let origin = Instant::now();
    let layout = site.prepare().expect("prepare the site");
    let settling = site.audit.take();
    let (host, roles) = layout.pick(role);
    let start = Instant::now();
    std::thread::sleep(BEFORE);
    let fault_at = Instant::now();
    site.inject(host, fault).expect("inject the fault");
    reacted(site, host);
    std::thread::sleep(HOLD);
    site.heal(host, fault).expect("heal the fault");
    site.wait_converged("the site to converge after healing");
    std::thread::sleep(AFTER);
    let end = Instant::now();
    let during = site.audit.take();
    let samples = site.client.sent_between(start, end);
    let outages = (0..site.vips.len())
        .map(|vip| {
            Outage::of(&samples, vip, start, fault_at).expect("answers before and after the fault")
        })
        .collect();
    let row = Row {
        role,
        fault,
        host,
        roles,
        outages,
        held: [settling, during],
        origin,
        fault_at,
    };
    println!("{}", render(&row));
    row
}

fn render(row: &Row) -> String {
    let outages: Vec<String> = row
        .outages
        .iter()
        .map(|o| {
            format!(
                "{} ms ({} of {} failed: {} in flight at the fault, {} sent before the \
                 directors could notice, {} others outside the gap; slowest answer {} ms)",
                o.gap.as_millis(),
                o.failed,
                o.sent,
                o.lost_in_flight,
                o.failed_before_detection,
                o.failed_outside_gap,
                o.slowest.as_millis()
            )
        })
        .collect();
    format!(
        "| {:?} | {:?} | {} ({}) | {} | {:?} {:?} |",
        row.role,
        row.fault,
        row.host,
        row.roles.join(" + "),
        outages.join(" | "),
        row.held[0].most,
        row.held[1].most
    )
}

/// Judge every scenario once all have run.
fn judge(site: &Site, rows: &[Row]) {
    for row in rows {
        let phases = ["while the site settled for", "during"];
        for (phase, held) in phases.iter().zip(&row.held) {
            assert!(
                held.single(),
                "{phase} {:?} {:?}: two hosts held a VIP at one instant: {}; agent logs in {}",
                row.role,
                row.fault,
                held.describe(row.origin),
                site.save_logs().display()
            );
        }
        if row.role == Role::Master {
            // A master's fault stops and restarts the directors' unique resources while the
            // leases catch up (being shortened now): such a scenario must keep one holder
            // per VIP, resume and converge, but may fail requests in several short gaps.
            continue;
        }
        for (vip, outage) in row.outages.iter().enumerate() {
            // A request fails only while its VIP does not answer at all, because the host
            // answering it died under it, or because a director sent it to a lost real
            // server before its health checks could notice (within their fall bound, as
            // issue 4 allows); never while the site is up.
            let examples: Vec<String> = outage
                .outside_examples
                .iter()
                .map(|(sent, took)| {
                    let at = sent.duration_since(row.origin).as_millis() as i128
                        - row.fault_at.duration_since(row.origin).as_millis() as i128;
                    format!(
                        "sent at {at:+} ms from the fault, failed after {} ms",
                        took.as_millis()
                    )
                })
                .collect();
            assert_eq!(
                outage.failed_outside_gap,
                0,
                "{:?} {:?}: VIP {} had {} failed requests outside its gap ({}); {outage:?}; \
                 agent logs in {}",
                row.role,
                row.fault,
                vip + 1,
                outage.failed_outside_gap,
                examples.join("; "),
                site.save_logs().display()
            );
        }
    }
}

/// Issue 13: the remote monitors probe each listener of the clone director on the host
/// holding that listener's VIP (the others listen on it too but never receive its traffic),
/// and find it reachable from outside.
fn listeners_probed_where_their_vips_are(site: &Site, layout: &Layout) {
    for (vip, holder) in site.vips.iter().zip(&layout.directors) {
        let target = format!("listener:{SERVICE}@{vip}:{PORT}");
        wait_for(&format!("{target} reachable on host {holder}"), || {
            let status = site.status()?;
            let views: Vec<_> = status
                .remote_views
                .iter()
                .filter(|view| view.target == target)
                .collect();
            match views[..] {
                [view] if view.node == *holder && view.verdict == "reachable" => Some(()),
                _ => None,
            }
        });
    }
}

#[test]
fn each_role_fails_in_turn_and_the_site_answers_apart_from_one_gap() {
    if !enabled("each_role_fails_in_turn") {
        return;
    }
    let origin = Instant::now();
    let mut site = Site::start(HOSTS).expect("start the site");
    let first = site.wait_converged("the new site to converge");
    listeners_probed_where_their_vips_are(&site, &first);
    // Issue 10: the first placement is audited like every scenario (a node whose heartbeats
    // were late on a loaded machine once restarted its VIP under a spent grant here).
    let placing = site.audit.take();
    assert!(
        placing.single(),
        "while the site was first placed, two hosts held a VIP at one instant: {}; agent \
         logs in {}",
        placing.describe(origin),
        site.save_logs().display()
    );
    // Every scenario runs and is printed before any is judged, so that one run gives the
    // whole table; a site that does not converge again stops the test at once.
    let mut rows = Vec::new();
    for fault in [Fault::Crash, Fault::Hang, Fault::Cut] {
        for role in [Role::Server, Role::Director, Role::Master] {
            rows.push(scenario(&mut site, role, fault));
        }
    }
    println!("| role | fault | host (its roles) | VIP 1 | VIP 2 | most holders |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        println!("{}", render(row));
    }
    judge(&site, &rows);
    down_to_the_last_node(&site);
    let problems = site.operations_audit();
    assert!(
        problems.is_empty(),
        "operation audit of the whole run: {}\n{}\nagent logs in {}",
        problems.join("\n"),
        site.cli(&["resource", "log", "--stale"])
            .unwrap_or_else(|e| e.to_string()),
        site.save_logs().display()
    );
}

/// With every host but one in standby (the master too: it keeps its office but runs
/// nothing), both VIPs share the last node and both answer: the VIPs are kept apart by a
/// score, not a ban, so none goes dark.
fn down_to_the_last_node(site: &Site) {
    let layout = site.wait_converged("the site to converge before shrinking");
    let last = layout.directors[0];
    for host in 1..=HOSTS as u64 {
        if host != last {
            site.cli(&["node", "standby", &host.to_string()])
                .expect("put a host in standby");
        }
    }
    let deadline = Instant::now() + e2e::site::SETTLE;
    while !site.audit.holders().iter().all(|held| held == &[last]) {
        if Instant::now() > deadline {
            let explain: Vec<String> = ["vip1", "vip2", "web"]
                .iter()
                .map(|r| site.cli(&["explain", r]).unwrap_or_else(|e| e.to_string()))
                .collect();
            panic!(
                "both VIPs not on the last node {last}: holders {:?}\n{}\nagent logs in {}",
                site.audit.holders(),
                explain.join("\n"),
                site.save_logs().display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let since = Instant::now();
    wait_for("both VIPs answering from the last node", || {
        site.client
            .answered_since(since, site.vips.len())
            .then_some(())
    });
    let held = site.audit.take();
    assert!(
        held.single(),
        "while shrinking to one node, two hosts held a VIP at one instant: {}",
        held.describe(since)
    );
}
