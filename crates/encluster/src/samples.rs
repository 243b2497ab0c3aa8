//! The demo's sample services: a small web site served by three backend processes behind
//! two load-balancing directors, each director a loopback VIP grouped with an `lb`
//! resource, kept on different nodes by anti-colocation.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

/// The VIPs of the two directors.
pub const VIPS: [&str; 2] = ["127.0.0.100", "127.0.0.101"];
/// The port the directors listen on.
pub const PORT: u16 = 8080;
const BACKEND_PORTS: [u16; 3] = [18081, 18082, 18083];

fn params(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The sample services as a cluster file (what `encluster apply -f` would read).
pub fn spec(site: &Path) -> api::ClusterSpec {
    let mut resources = Vec::new();
    let mut servers = Vec::new();
    for (index, port) in BACKEND_PORTS.iter().enumerate() {
        let name = format!("site-{}", ["a", "b", "c"][index]);
        let args = format!(
            "-m http.server {port} --bind 0.0.0.0 --directory {}",
            site.display()
        );
        resources.push(api::ResourceSpec {
            name: name.clone(),
            type_name: "process".into(),
            params: params(&[
                ("command", "python3".into()),
                ("args", args),
                ("probe_tcp", format!("127.0.0.1:{port}")),
            ]),
            monitor_interval: Some("2s".into()),
            // A move or a standby first takes the backend out of both directors, then stops
            // it a second later, so the requests it is serving finish.
            drain: Some("1s".into()),
            ..Default::default()
        });
        servers.push(format!("{name}=@{name}:{port}"));
    }
    let mut groups = Vec::new();
    for (index, vip) in VIPS.iter().enumerate() {
        let n = index + 1;
        resources.push(api::ResourceSpec {
            name: format!("vip{n}"),
            type_name: "vip".into(),
            params: params(&[("ip", vip.to_string())]),
            monitor_interval: Some("2s".into()),
            ..Default::default()
        });
        resources.push(api::ResourceSpec {
            name: format!("web{n}"),
            type_name: "lb".into(),
            params: params(&[
                ("listen", format!("{vip}:{PORT}")),
                ("servers", servers.join(",")),
                ("protocol", "http".into()),
                ("health", "http".into()),
            ]),
            monitor_interval: Some("2s".into()),
            ..Default::default()
        });
        groups.push(api::GroupSpec {
            name: format!("director{n}"),
            members: vec![format!("vip{n}"), format!("web{n}")],
        });
    }
    let constraints = vec![api::ConstraintSpec::Colocation {
        resource: "web2".into(),
        with: "web1".into(),
        score: "-INFINITY".into(),
    }];
    api::ClusterSpec {
        resources,
        groups,
        constraints,
        types: Vec::new(),
        alerts: Vec::new(),
    }
}

/// Write the site and apply the sample services through the API.
pub async fn install(client: &api::Client, dir: &Path) -> anyhow::Result<()> {
    let site = dir.join("site");
    std::fs::create_dir_all(&site).context("cannot create the demo site")?;
    let page = "<h1>Hello from encluster</h1>\n<p>Served by one of three backends, through \
                one of two directors.</p>\n";
    std::fs::write(site.join("index.html"), page).context("cannot write the demo page")?;
    client
        .apply(&spec(&site), false)
        .await
        .context("cannot create the sample services")?;
    Ok(())
}
