//! The demo's sample services: a small web site served by three backend processes behind
//! two load-balancing directors, each director a loopback VIP grouped with an `lb`
//! resource, kept on different nodes by anti-colocation; and the MSCS paper's chat server
//! (`examples/chat`), a resource of the user-defined type `chat` grouped with its VIP.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

/// The VIPs of the two directors.
pub const VIPS: [&str; 2] = ["127.0.0.100", "127.0.0.101"];
/// The port the directors listen on.
pub const PORT: u16 = 8080;
const BACKEND_PORTS: [u16; 3] = [18081, 18082, 18083];
/// Where the chat listens: its VIP and port.
pub const CHAT: &str = "127.0.0.102:7000";
/// The chat type's definition, as users create it with `encluster type create -f`.
const CHAT_TYPE: &str = include_str!("../../../examples/chat/chat.toml");

fn params(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The chat type (run by `exe`, this binary), and its group: the VIP, then the chat.
fn chat(exe: &Path) -> anyhow::Result<(api::TypeSpec, Vec<api::ResourceSpec>, api::GroupSpec)> {
    let mut chat =
        cli::parse_type_file(CHAT_TYPE).context("examples/chat/chat.toml is not a type file")?;
    chat.name = "chat".into();
    chat.command = exe.display().to_string();
    chat.reload = Some(exe.display().to_string());
    let (vip, _) = CHAT.split_once(':').context("CHAT is address:port")?;
    let resources = vec![
        api::ResourceSpec {
            name: "chat-vip".into(),
            type_name: "vip".into(),
            params: params(&[("ip", vip.to_string())]),
            monitor_interval: Some("2s".into()),
            ..Default::default()
        },
        api::ResourceSpec {
            name: "chat1".into(),
            type_name: "chat".into(),
            params: params(&[("listen", CHAT.to_string()), ("MaxUser", "5".into())]),
            ..Default::default()
        },
    ];
    let group = api::GroupSpec {
        name: "chat".into(),
        members: vec!["chat-vip".into(), "chat1".into()],
    };
    Ok((chat, resources, group))
}

/// The sample services as a cluster file (what `encluster apply -f` would read).
pub fn spec(site: &Path, exe: &Path) -> anyhow::Result<api::ClusterSpec> {
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
    let (chat_type, chat_resources, chat_group) = chat(exe)?;
    resources.extend(chat_resources);
    groups.push(chat_group);
    Ok(api::ClusterSpec {
        resources,
        groups,
        constraints,
        types: vec![chat_type],
        alerts: Vec::new(),
        fence: Vec::new(),
    })
}

/// Write the site and apply the sample services through the API.
pub async fn install(client: &api::Client, dir: &Path) -> anyhow::Result<()> {
    let site = dir.join("site");
    std::fs::create_dir_all(&site).context("cannot create the demo site")?;
    let page = "<h1>Hello from encluster</h1>\n<p>Served by one of three backends, through \
                one of two directors.</p>\n";
    std::fs::write(site.join("index.html"), page).context("cannot write the demo page")?;
    let exe = std::env::current_exe().context("cannot find the encluster binary")?;
    client
        .apply(&spec(&site, &exe)?, false)
        .await
        .context("cannot create the sample services")?;
    Ok(())
}
