//! The web UI (issue 14) in real headless Chromium against a real three-node cluster:
//! sign in (as an admin user, with a password) on a node that is not the master; see the
//! three nodes and the master on the dashboard; see a resource created from the CLI appear
//! without a reload; create a resource with `MaxUser` 11 and see the error beside its
//! field with nothing created, fix it and see it run (markup in a value shown as text,
//! never run); move a group to a chosen node and drain a virtual service's server; put a
//! node in standby and watch its resources leave; see a graph with data points; kill a
//! node and see its loss and the incident appear live; see a forged cross-site post
//! refused; sign out; then, as a viewer, find the operator's buttons disabled with the
//! missing permission named, and the API refusing the same change.
//!
//! A second flow edits a group and a constraint in place from the groups page (issue 14,
//! point 3): each form opens with the current values, a bad edit shows the server's reason
//! beside its field with nothing changed, a good one reorders the group without restarting
//! its running member and gives the constraint its new id; a viewer finds Edit disabled.
//!
//! Method: `Cluster` starts the agents; `e2e::browser` drives Debian's chromium through
//! chromedriver (WebDriver). Every wait polls what the page shows, with a deadline.
//! Screenshots of the pages go to `e2e::browser::screenshot_dir()`.

use std::path::Path;
use std::time::Duration;

use e2e::browser::{Browser, screenshot_dir};
use e2e::output_text as text;
use e2e::{Cluster, wait_until};

pub(crate) const SETTLE: Duration = Duration::from_secs(30);
pub(crate) const SHOWN: Duration = Duration::from_secs(15);
pub(crate) const ADMIN_PASSWORD: &str = "correct horse battery staple";
const VIEWER_PASSWORD: &str = "viewer's own long password";

/// A user type with `MaxUser` from 1 to 10, whose instance just sleeps.
pub(crate) const CHAT_TYPE: &str = r#"
description = "a chat server stand-in"
command = "/bin/sh"
args = ["-c", "exec sleep 600"]

[looks_alive]
interval = "1s"

[[param]]
name = "MaxUser"
kind = "integer"
min = 1
max = 10
default = 5
description = "most clients at once"
"#;

pub(crate) fn ok(cluster: &Cluster, node: u64, args: &[&str]) -> String {
    let output = cluster.cli(node, args);
    assert!(output.status.success(), "{args:?}: {}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Sign in with a user name and password through the login form.
pub(crate) async fn sign_in_as(
    browser: &Browser,
    url: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<()> {
    browser.open(url).await?;
    browser.fill("#login-user", user).await?;
    browser.fill("#login-password", password).await?;
    browser.click("#login-form button[type=submit]").await?;
    browser.wait_for("#logout", SHOWN).await?;
    Ok(())
}

/// A viewer finds the operator's buttons disabled, each saying which permission it needs,
/// and the API refuses the same change sent with the viewer's own session.
async fn a_viewer_sees_disabled_buttons_and_the_api_refuses(
    browser: &Browser,
    url: &str,
    shots: &Path,
) -> anyhow::Result<()> {
    sign_in_as(browser, url, "vera", VIEWER_PASSWORD).await?;
    browser.click("#nav a[href='#/nodes']").await?;
    // Node 1 may be the node the standby step emptied: its button then says Online.
    let standby = browser
        .wait_for(
            "button[aria-label='Standby node1'], button[aria-label='Online node1']",
            SHOWN,
        )
        .await?;
    assert!(
        !standby.is_enabled().await?,
        "a viewer's Standby (or Online) button is enabled"
    );
    let reason = standby.attr("title").await?;
    assert_eq!(reason.as_deref(), Some("needs the operate permission"));
    browser
        .wait_text("main", SHOWN, "the missing permission named", |text| {
            text.contains("your role lacks the operate permission")
        })
        .await?;
    browser.screenshot(shots, "nodes-as-viewer").await?;
    let refused = browser
        .client
        .execute_async(
            "const done = arguments[0];
             const session = await (await fetch('/v1/session')).json();
             const answer = await fetch('/v1/nodes/1/mode', { method: 'POST',
               headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf },
               body: JSON.stringify({ mode: 'standby' }) });
             done([answer.status, await answer.text()]);",
            Vec::new(),
        )
        .await?;
    assert_eq!(refused[0], 403, "{refused}");
    assert!(
        refused[1].as_str().unwrap_or("").contains("operate"),
        "{refused}"
    );
    browser.click("#logout").await?;
    browser.wait_for("#login-form", SHOWN).await?;
    Ok(())
}

/// Mark the page so a later check can tell that it was not reloaded.
pub(crate) async fn mark(browser: &Browser) -> anyhow::Result<()> {
    browser
        .client
        .execute("window.encluster_mark = 'kept';", Vec::new())
        .await?;
    Ok(())
}

pub(crate) async fn still_marked(browser: &Browser) -> bool {
    let mark = browser
        .client
        .execute("return window.encluster_mark || null;", Vec::new())
        .await;
    matches!(mark, Ok(serde_json::Value::String(text)) if text == "kept")
}

async fn dashboard_shows_nodes_master_and_live_changes(
    browser: &Browser,
    cluster: &Cluster,
    master: u64,
    shots: &Path,
) -> anyhow::Result<()> {
    let nodes = browser
        .wait_text("#dash-nodes tbody", SHOWN, "three nodes", |text| {
            ["node1", "node2", "node3"]
                .iter()
                .all(|name| text.contains(name))
        })
        .await?;
    assert_eq!(nodes.lines().count(), 3, "{nodes}");
    // The master the page shows is the one the cluster reports (elections may happen on a
    // busy machine, so both are read again until they agree).
    wait_until("the page to show the current master", SHOWN, || async {
        let shown = browser.text_of("#card-master .big", SHOWN).await.ok()?;
        let master = cluster.client(1).health().await.ok()?.master?;
        (shown == format!("node{master}")).then_some(())
    })
    .await;
    // The serving node is not the master: it asks the master, with the browser's session.
    browser
        .wait_text("#dash-view", SHOWN, "the master's view", |text| {
            text.starts_with("View of master")
        })
        .await?;
    mark(browser).await?;
    ok(
        cluster,
        master,
        &["resource", "create", "live1", "--type", "chat"],
    );
    browser
        .wait_text("#dash-resources", SHOWN, "live1 running", |text| {
            text.lines()
                .any(|line| line.contains("live1") && line.contains("running"))
        })
        .await?;
    assert!(still_marked(browser).await, "the page was reloaded");
    browser.screenshot(shots, "dashboard").await?;
    Ok(())
}

async fn max_user_11_is_shown_beside_its_field(
    browser: &Browser,
    cluster: &Cluster,
    shots: &Path,
) -> anyhow::Result<()> {
    browser.click("#nav a[href='#/resources']").await?;
    browser.click("#new-resource").await?;
    browser.fill("#res-name", "chat2").await?;
    let types = browser.wait_for("#res-type", SHOWN).await?;
    types.select_by_value("chat").await?;
    // Markup in a value comes back in the server's message, shown as text, never run.
    let markup = "<img src=x onerror=window.pwned=1>";
    browser.fill("#param-MaxUser", markup).await?;
    browser.click("#save").await?;
    browser
        .wait_text(
            "#param-MaxUser-error",
            SHOWN,
            "the markup as text",
            |text| text.contains(markup) && text.contains("not an integer"),
        )
        .await?;
    let pwned = browser
        .client
        .execute("return window.pwned || null;", Vec::new())
        .await?;
    assert_eq!(pwned, serde_json::Value::Null, "the markup ran");
    browser.fill("#param-MaxUser", "11").await?;
    browser.click("#save").await?;
    let message = "MaxUser: 11 is above the maximum 10";
    browser
        .wait_text("#param-MaxUser-error", SHOWN, message, |text| {
            text.contains(message)
        })
        .await?;
    browser.screenshot(shots, "resource-form-error").await?;
    let missing = cluster.client(1).resource("chat2").await;
    assert!(missing.is_err(), "chat2 was created: {missing:?}");
    browser.fill("#param-MaxUser", "7").await?;
    browser.click("#save").await?;
    browser
        .wait_text("#instances", SETTLE, "chat2 running", |text| {
            text.contains("running")
        })
        .await?;
    browser.screenshot(shots, "resource").await?;
    let created = cluster.client(1).resource("chat2").await?;
    assert_eq!(
        created.spec.params.get("MaxUser").map(String::as_str),
        Some("7")
    );
    Ok(())
}

/// Move a group from the groups page: its member runs on the chosen node afterwards, as
/// the API and the page both show.
async fn a_group_moves_to_the_chosen_node(
    browser: &Browser,
    cluster: &Cluster,
    shots: &Path,
) -> anyhow::Result<()> {
    let from = running_on(cluster, "mover").await;
    let to = (1..=3).find(|n| *n != from).expect("another node");
    browser.click("#nav a[href='#/groups']").await?;
    browser
        .choose("select[aria-label='Move movers to']", &to.to_string())
        .await?;
    browser
        .click("button[aria-label='Move group movers']")
        .await?;
    wait_until("the group on the chosen node", SETTLE, || async {
        let view = cluster.client(1).resource("mover").await.ok()?;
        view.instances
            .iter()
            .any(|i| i.state == "running" && i.node == to)
            .then_some(())
    })
    .await;
    let name = format!("node{to}");
    browser
        .wait_text(
            "#groups tbody",
            SETTLE,
            "the group on its new node",
            |text| {
                text.lines()
                    .any(|line| line.starts_with("movers") && line.contains(&name))
            },
        )
        .await?;
    browser.screenshot(shots, "groups").await?;
    Ok(())
}

/// Drain a server from the virtual services page: the director marks it draining, and the
/// service's definition in the cmdb says so (the same edit `encluster lb server drain` makes).
async fn a_server_is_drained(
    browser: &Browser,
    cluster: &Cluster,
    shots: &Path,
) -> anyhow::Result<()> {
    browser.click("#nav a[href='#/services']").await?;
    browser.click("button[aria-label='Drain b']").await?;
    let table = "table[aria-label='Servers of front'] tbody";
    browser
        .wait_text(table, SETTLE, "server b draining", |text| {
            text.lines()
                .any(|line| line.starts_with('b') && line.contains("draining"))
        })
        .await?;
    let client = cluster.client(1);
    let stats = client.lb_stats("front").await?;
    let b = stats.servers.iter().find(|s| s.name == "b").expect("b");
    assert_eq!(b.state, "draining", "{stats:?}");
    let a = stats.servers.iter().find(|s| s.name == "a").expect("a");
    assert_eq!(a.state, "active", "only b was drained: {stats:?}");
    let spec = client.resource("front").await?.spec;
    assert_eq!(spec.params.get("draining").map(String::as_str), Some("b"));
    browser.screenshot(shots, "services").await?;
    Ok(())
}

/// The node running `name`, once it runs.
pub(crate) async fn running_on(cluster: &Cluster, name: &str) -> u64 {
    wait_until(&format!("{name} running"), SETTLE, || async {
        let view = cluster.client(1).resource(name).await.ok()?;
        view.instances
            .iter()
            .find(|i| i.state == "running")
            .map(|i| i.node)
    })
    .await
}

/// Standby from the nodes page: the node's resources leave it, as the dashboard shows.
async fn standby_empties_a_node(
    browser: &Browser,
    cluster: &Cluster,
    shots: &Path,
) -> anyhow::Result<()> {
    let status = cluster.client(1).status().await?;
    let busy = status
        .resources
        .iter()
        .flat_map(|r| r.instances.iter())
        .find(|i| i.state == "running")
        .map(|i| i.node)
        .expect("a resource runs somewhere");
    let name = format!("node{busy}");
    browser.click("#nav a[href='#/nodes']").await?;
    browser
        .click(&format!("button[aria-label='Standby {name}']"))
        .await?;
    browser
        .wait_text(
            "#nodes tbody",
            SETTLE,
            "standby with no resources",
            |text| {
                text.lines()
                    .any(|line| line.starts_with(&name) && line.contains("standby"))
            },
        )
        .await?;
    wait_until("the node emptied", SETTLE, || async {
        let status = cluster.client(1).status().await.ok()?;
        let left = status
            .resources
            .iter()
            .flat_map(|r| r.instances.iter())
            .all(|i| i.node != busy || i.state != "running");
        left.then_some(())
    })
    .await;
    browser.screenshot(shots, "nodes").await?;
    Ok(())
}

/// The graphs page draws a series of the serving node with data points (uPlot's canvas).
async fn a_graph_has_data_points(browser: &Browser, shots: &Path) -> anyhow::Result<()> {
    browser.click("#nav a[href='#/graphs']").await?;
    browser.wait_for("#graph canvas", SETTLE).await?;
    let points = browser
        .client
        .execute(
            "return document.getElementById('graph').dataset.points || '0';",
            Vec::new(),
        )
        .await?;
    let points: u64 = points.as_str().unwrap_or("0").parse()?;
    assert!(points > 0, "the graph has no data points");
    browser.screenshot(shots, "graphs").await?;
    Ok(())
}

/// A node killed (not the master, not the one serving the page): its loss appears on the
/// open dashboard, without a reload, as an event and as a running incident.
async fn a_killed_node_appears_live(
    browser: &Browser,
    cluster: &mut Cluster,
    serving: u64,
    shots: &Path,
) -> anyhow::Result<()> {
    let master = cluster.wait_master(SETTLE).await;
    let victim = (1..=3)
        .find(|id| *id != master && *id != serving)
        .expect("three nodes");
    browser.click("#nav a[href='#/']").await?;
    browser.wait_for("#dash-events", SHOWN).await?;
    mark(browser).await?;
    cluster.kill9(victim);
    let lost = format!("node {victim} online -> ");
    browser
        .wait_text("#dash-events", SETTLE, "the node's loss", |text| {
            text.contains(&lost)
        })
        .await?;
    let name = format!("node{victim}");
    browser
        .wait_text("#dash-incidents", SETTLE, "the incident", |text| {
            text.contains(&name)
        })
        .await?;
    assert!(still_marked(browser).await, "the page was reloaded");
    browser.screenshot(shots, "dashboard-node-lost").await?;
    Ok(())
}

/// A page of another site posts a form to the API while the browser is signed in: the
/// browser sends no session with it (SameSite=Strict) and the API refuses it, nothing made.
async fn a_forged_cross_site_post_is_refused(
    browser: &Browser,
    cluster: &Cluster,
    serving: u64,
) -> anyhow::Result<()> {
    let target = format!(
        "https://{}/v1/resources",
        cluster.nodes[serving as usize - 1].api_addr
    );
    let body = r#"{"name":"forged","type":"chat","ignore":"="}"#;
    let (name, value) = body.split_once('=').expect("the body has one =");
    let page = format!(
        "data:text/html,<form id=f method=post enctype=text/plain action='{target}'>\
         <input name='{name}' value='{value}'><button id=go>go</button></form>"
    );
    let back = browser.client.current_url().await?;
    browser.open(&page).await?;
    browser.click("#go").await?;
    let answer = browser
        .wait_text("body", SHOWN, "the API's refusal", |text| {
            text.contains("error")
        })
        .await?;
    assert!(
        !answer.contains("\"spec\""),
        "the forged post was accepted: {answer}"
    );
    let forged = cluster.client(1).resource("forged").await;
    assert!(
        forged.is_err(),
        "the forged post created a resource: {forged:?}"
    );
    browser.open(back.as_str()).await?;
    browser.wait_for("#logout", SHOWN).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_signs_in_shows_the_cluster_live_and_refuses_max_user_11_beside_the_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = Cluster::start(3, 3, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let type_file = dir.path().join("chat.toml");
    std::fs::write(&type_file, CHAT_TYPE).expect("write the type");
    let type_file = type_file.to_str().expect("utf-8 path");
    ok(
        &cluster,
        master,
        &["type", "create", "chat", "-f", type_file],
    );
    // Any node serves the UI: use one that is not the master, so reads are forwarded.
    let serving = if master == 1 { 2 } else { 1 };
    let url = format!("https://{}/", cluster.nodes[serving as usize - 1].api_addr);
    let shots = screenshot_dir();
    let client = cluster.client(master);
    for (name, role, password) in [
        ("ada", "admin", ADMIN_PASSWORD),
        ("vera", "viewer", VIEWER_PASSWORD),
    ] {
        let user = api::NewUser {
            name: name.into(),
            role: role.into(),
            password: password.into(),
        };
        client.add_user(&user).await.expect("add a user");
    }
    // A group to move and a virtual service with two servers to drain (its servers need
    // not answer: draining is the director's bookkeeping).
    let front = format!("{}:18080", cluster.base_ip);
    for args in [
        vec![
            "resource",
            "create",
            "mover",
            "--type",
            "process",
            "--param",
            "command=sleep",
            "--param",
            "args=600",
        ],
        vec!["group", "create", "movers", "mover"],
    ] {
        ok(&cluster, master, &args);
    }
    let servers = "a=127.0.0.1:9,b=127.0.0.1:19";
    ok(
        &cluster,
        master,
        &[
            "resource",
            "create",
            "front",
            "--type",
            "lb",
            "--param",
            &format!("listen={front}"),
            "--param",
            &format!("servers={servers}"),
        ],
    );
    let browser = Browser::start().await.expect("start chromium");
    let run = async {
        sign_in_as(&browser, &url, "ada", ADMIN_PASSWORD).await?;
        dashboard_shows_nodes_master_and_live_changes(&browser, &cluster, master, &shots).await?;
        max_user_11_is_shown_beside_its_field(&browser, &cluster, &shots).await?;
        a_group_moves_to_the_chosen_node(&browser, &cluster, &shots).await?;
        a_server_is_drained(&browser, &cluster, &shots).await?;
        standby_empties_a_node(&browser, &cluster, &shots).await?;
        a_graph_has_data_points(&browser, &shots).await?;
        a_killed_node_appears_live(&browser, &mut cluster, serving, &shots).await?;
        a_forged_cross_site_post_is_refused(&browser, &cluster, serving).await?;
        browser.click("#logout").await?;
        browser.wait_for("#login-form", SHOWN).await?;
        a_viewer_sees_disabled_buttons_and_the_api_refuses(&browser, &url, &shots).await?;
        anyhow::Ok(())
    };
    let outcome = run.await;
    if outcome.is_err() {
        let _ = browser.screenshot(&shots, "failure").await;
    }
    browser.close().await.expect("close the browser");
    outcome.expect("the UI flow");
}

/// The value an input holds now (what the operator sees in it).
pub(crate) async fn value_of(browser: &Browser, css: &str) -> anyhow::Result<String> {
    let element = browser.wait_for(css, SHOWN).await?;
    Ok(element.prop("value").await?.unwrap_or_default())
}

/// The members of `group` as the API declares them.
async fn declared_members(cluster: &Cluster, group: &str) -> Vec<String> {
    let config = cluster.client(1).config().await.expect("config");
    let found = config.groups.into_iter().find(|g| g.name == group);
    found.map(|g| g.members).unwrap_or_default()
}

/// Edit group `pair` (`a`, then `b`): the form shows its members; a member that does not
/// exist is refused beside the field with nothing changed; `b, a, c` reorders it and adds
/// `c` while `a` and `b` keep their processes.
async fn a_group_is_edited_in_place(
    browser: &Browser,
    cluster: &Cluster,
    shots: &Path,
) -> anyhow::Result<()> {
    let pids = [
        cluster.sole_instance("a").await.expect("a runs"),
        cluster.sole_instance("b").await.expect("b runs"),
    ];
    browser.click("#nav a[href='#/groups']").await?;
    browser
        .click("button[aria-label='Edit group pair']")
        .await?;
    assert_eq!(value_of(browser, "#edit-group-members").await?, "a, b");
    browser.fill("#edit-group-members", "b, a, ghost").await?;
    browser.click("#save-group").await?;
    let refusal = "members: ghost does not exist: create the resource first";
    browser
        .wait_text("#edit-group-members-error", SHOWN, refusal, |text| {
            text.contains(refusal)
        })
        .await?;
    browser.screenshot(shots, "group-edit-error").await?;
    assert_eq!(declared_members(cluster, "pair").await, ["a", "b"]);
    browser.fill("#edit-group-members", "b, a, c").await?;
    browser.click("#save-group").await?;
    browser
        .wait_text("#groups tbody", SETTLE, "pair as b, a, c", |text| {
            text.lines()
                .any(|line| line.starts_with("pair") && line.contains("b → a → c"))
        })
        .await?;
    assert_eq!(declared_members(cluster, "pair").await, ["b", "a", "c"]);
    let node = pids[0].0;
    wait_until("c running with its group", SETTLE, || async {
        let (on, _) = cluster.sole_instance("c").await?;
        (on == node).then_some(())
    })
    .await;
    for (name, before) in ["a", "b"].into_iter().zip(pids) {
        let now = cluster.sole_instance(name).await;
        assert_eq!(now, Some(before), "{name} was restarted by the edit");
    }
    browser.screenshot(shots, "group-edited").await?;
    Ok(())
}

/// Edit the constraint `location-d-1-50`: the form shows it; a resource that does not
/// exist is refused beside its field; score 80 replaces it under the id
/// `location-d-1-80`.
async fn a_constraint_is_edited_in_place(
    browser: &Browser,
    cluster: &Cluster,
    shots: &Path,
) -> anyhow::Result<()> {
    browser
        .click("button[aria-label='Edit constraint location-d-1-50']")
        .await?;
    assert_eq!(value_of(browser, "#edit-c-type").await?, "location");
    assert_eq!(value_of(browser, "#edit-c-a").await?, "d");
    assert_eq!(value_of(browser, "#edit-c-b").await?, "1");
    assert_eq!(value_of(browser, "#edit-c-score").await?, "50");
    browser.fill("#edit-c-a", "ghost").await?;
    browser.click("#save-constraint").await?;
    let refusal = "resource: ghost is neither a resource nor a group";
    browser
        .wait_text("#edit-c-a-error", SHOWN, refusal, |text| {
            text.contains(refusal)
        })
        .await?;
    browser.screenshot(shots, "constraint-edit-error").await?;
    let ids = |views: Vec<api::ConstraintView>| -> Vec<String> {
        views.into_iter().map(|view| view.id).collect()
    };
    let listed = ids(cluster.client(1).constraints().await?);
    assert_eq!(
        listed,
        ["location-d-1-50"],
        "the refused edit changed something"
    );
    browser.fill("#edit-c-a", "d").await?;
    browser.fill("#edit-c-score", "80").await?;
    browser.click("#save-constraint").await?;
    browser
        .wait_text("#constraints tbody", SETTLE, "the new id", |text| {
            text.contains("location-d-1-80") && !text.contains("location-d-1-50")
        })
        .await?;
    let listed = ids(cluster.client(1).constraints().await?);
    assert_eq!(listed, ["location-d-1-80"]);
    browser.screenshot(shots, "constraint-edited").await?;
    Ok(())
}

/// A viewer finds both Edit buttons disabled, each naming the permission it needs.
async fn a_viewer_cannot_edit(browser: &Browser, url: &str) -> anyhow::Result<()> {
    sign_in_as(browser, url, "vera", VIEWER_PASSWORD).await?;
    browser.click("#nav a[href='#/groups']").await?;
    for button in [
        "button[aria-label='Edit group pair']",
        "button[aria-label='Edit constraint location-d-1-80']",
    ] {
        let edit = browser.wait_for(button, SHOWN).await?;
        assert!(!edit.is_enabled().await?, "a viewer's {button} is enabled");
        let reason = edit.attr("title").await?;
        assert_eq!(reason.as_deref(), Some("needs the admin permission"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_edits_a_group_and_a_constraint_in_place() {
    let cluster = Cluster::start(2, 3, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let client = cluster.client(master);
    for (name, role, password) in [
        ("ada", "admin", ADMIN_PASSWORD),
        ("vera", "viewer", VIEWER_PASSWORD),
    ] {
        let user = api::NewUser {
            name: name.into(),
            role: role.into(),
            password: password.into(),
        };
        client.add_user(&user).await.expect("add a user");
    }
    for name in ["a", "b", "c", "d"] {
        let spec = e2e::specs::sleeper(name);
        client.create_resource(&spec).await.expect("create");
    }
    ok(&cluster, master, &["group", "create", "pair", "a", "b"]);
    ok(
        &cluster,
        master,
        &["constraint", "add", "location", "d", "1", "50"],
    );
    wait_until("a and b running together", SETTLE, || async {
        let (one, _) = cluster.sole_instance("a").await?;
        let (two, _) = cluster.sole_instance("b").await?;
        cluster.sole_instance("c").await?;
        (one == two).then_some(())
    })
    .await;
    let url = format!("https://{}/", cluster.nodes[0].api_addr);
    let shots = screenshot_dir();
    let browser = Browser::start().await.expect("start chromium");
    let run = async {
        sign_in_as(&browser, &url, "ada", ADMIN_PASSWORD).await?;
        a_group_is_edited_in_place(&browser, &cluster, &shots).await?;
        a_constraint_is_edited_in_place(&browser, &cluster, &shots).await?;
        browser.click("#logout").await?;
        browser.wait_for("#login-form", SHOWN).await?;
        a_viewer_cannot_edit(&browser, &url).await?;
        anyhow::Ok(())
    };
    let outcome = run.await;
    if outcome.is_err() {
        let _ = browser.screenshot(&shots, "edit-failure").await;
    }
    browser.close().await.expect("close the browser");
    outcome.expect("the edit flow");
}
