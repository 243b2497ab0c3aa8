//! Users, roles and login sessions (issue 14 point 2) through real agents over real TLS:
//! a browser-like client logs in on one node and is recognised on every node; a change made
//! with the cookie needs the session's CSRF token; each role is refused what it lacks, with
//! a message that names the permission and the role; a logout, or removing the user, ends
//! the session on another node; repeated wrong passwords lock the user name; a session
//! expires; no answer reflects a cross-site origin.
//!
//! Method: users are added with the CLI binary (password on standard input), requests are
//! sent with a plain HTTPS client that carries the cookie as a browser would, and every
//! cross-node effect is polled for with a deadline.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use e2e::specs::sleeper;
use e2e::{Cluster, wait_until};
use reqwest::{Method, StatusCode};

const SETTLE: Duration = Duration::from_secs(30);

/// A browser-like HTTPS client of the cluster: trusts the cluster CA, keeps no cookies of
/// its own (the tests hand them over explicitly).
fn browser(cluster: &Cluster) -> reqwest::Client {
    let ca = std::fs::read_to_string(cluster.cluster_dir().join("ca.pem")).expect("ca.pem");
    let tls = auth::client_config(&ca, None).expect("client TLS config");
    reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

/// Add a user with the CLI, the password on standard input.
fn add_user(cluster: &Cluster, name: &str, role: &str, password: &str) {
    let mut child = std::process::Command::new(e2e::binary())
        .args(["user", "add", name, "--role", role, "--password-stdin"])
        .env(
            "ENCLUSTER_API",
            format!("https://{}", cluster.nodes[0].api_addr),
        )
        .env("ENCLUSTER_TOKEN", &cluster.admin_token)
        .env("ENCLUSTER_CA", cluster.cluster_dir().join("ca.pem"))
        .env_remove("ENCLUSTER_CLI_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{password}").expect("write the password");
    drop(stdin);
    let output = child.wait_with_output().expect("CLI output");
    assert!(
        output.status.success(),
        "user add {name}: {}",
        e2e::output_text(&output)
    );
}

/// One login session as a browser holds it.
struct Session {
    cookie: String,
    csrf: String,
}

/// An answer: status, headers and JSON body (or `null`).
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: serde_json::Value,
}

impl Answer {
    fn error(&self) -> String {
        self.body["error"].as_str().unwrap_or_default().to_owned()
    }
}

async fn call(
    client: &reqwest::Client,
    cluster: &Cluster,
    node: u64,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> Answer {
    let api_addr = &cluster.nodes[node as usize - 1].api_addr;
    let mut request = client.request(method, format!("https://{api_addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the agent answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

async fn login(
    client: &reqwest::Client,
    cluster: &Cluster,
    node: u64,
    user: &str,
    password: &str,
) -> Answer {
    let body = serde_json::json!({ "user": user, "password": password });
    call(
        client,
        cluster,
        node,
        Method::POST,
        "/v1/session",
        &[],
        Some(body),
    )
    .await
}

/// Log in and keep the session, checking the cookie's attributes on the way.
async fn logged_in(
    client: &reqwest::Client,
    cluster: &Cluster,
    node: u64,
    user: &str,
    password: &str,
) -> Session {
    let answer = login(client, cluster, node, user, password).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "login {user}: {}",
        answer.body
    );
    let set_cookie = answer.headers[reqwest::header::SET_COOKIE]
        .to_str()
        .expect("ASCII cookie");
    for attribute in [
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing: {set_cookie}"
        );
    }
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    assert!(cookie.starts_with("encluster_session="), "{cookie}");
    assert_eq!(answer.body["user"], user);
    let csrf = answer.body["csrf"].as_str().expect("csrf").to_owned();
    assert_eq!(csrf.len(), 64, "{}", answer.body);
    assert!(answer.body["expires_at_ms"].as_u64().expect("expiry") > 0);
    Session { cookie, csrf }
}

/// A request with the session's cookie and, when given, a CSRF token.
async fn as_user(
    client: &reqwest::Client,
    cluster: &Cluster,
    node: u64,
    (method, path): (Method, &str),
    cookie: &str,
    csrf: Option<&str>,
    body: Option<serde_json::Value>,
) -> Answer {
    let mut headers = vec![("cookie", cookie)];
    if let Some(csrf) = csrf {
        headers.push(("x-csrf-token", csrf));
    }
    call(client, cluster, node, method, path, &headers, body).await
}

/// Poll `GET /v1/session` on `node` until it answers `status`.
async fn wait_session_status(
    client: &reqwest::Client,
    cluster: &Cluster,
    node: u64,
    cookie: &str,
    status: StatusCode,
) -> Answer {
    let get = (Method::GET, "/v1/session");
    wait_until("the session's state on another node", SETTLE, || async {
        let answer = as_user(client, cluster, node, get.clone(), cookie, None, None).await;
        (answer.status == status).then_some(answer)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_sessions_and_csrf_through_every_node() {
    let cluster = Cluster::start(3, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    let other = if master == 3 { 2 } else { 3 };
    let client = browser(&cluster);
    add_user(&cluster, "ann", "viewer", "ann's long password");
    add_user(&cluster, "olly", "operator", "olly's long password");

    // Wrong password and unknown user get one and the same refusal.
    for (user, password) in [("ann", "not the password"), ("nobody", "whatever it is")] {
        let refused = login(&client, &cluster, other, user, password).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
        assert_eq!(refused.error(), "wrong user name or password");
        assert!(refused.headers.get("set-cookie").is_none());
    }

    // A viewer logged in on one node is known on another, and may only read.
    let ann = logged_in(&client, &cluster, other, "ann", "ann's long password").await;
    let known = wait_session_status(&client, &cluster, 1, &ann.cookie, StatusCode::OK).await;
    assert_eq!(known.body["role"], "viewer");
    assert_eq!(known.body["permissions"], serde_json::json!(["read"]));
    assert_eq!(known.body["csrf"], ann.csrf.as_str());
    let status = (Method::GET, "/v1/status");
    let read = as_user(&client, &cluster, 1, status, &ann.cookie, None, None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);

    cluster
        .client(master)
        .create_resource(&sleeper("p1"))
        .await
        .expect("create p1");
    let stop = (Method::POST, "/v1/resources/p1/stop");
    let refused = as_user(
        &client,
        &cluster,
        1,
        stop.clone(),
        &ann.cookie,
        Some(&ann.csrf),
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(
        refused.error(),
        "this needs the \"operate\" permission; user \"ann\" has role viewer"
    );

    operator_moves_but_adds_no_user(&client, &cluster, master, other).await;
    role_bound_tokens(&client, &cluster, master).await;

    // No answer reflects a foreign origin (no CORS at all).
    let preflight = call(
        &client,
        &cluster,
        1,
        Method::OPTIONS,
        "/v1/session",
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "POST"),
        ],
        None,
    )
    .await;
    assert!(
        preflight
            .headers
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        preflight.headers
    );

    // A logout through one node ends the session on another.
    let logout = (Method::DELETE, "/v1/session");
    let out = as_user(
        &client,
        &cluster,
        1,
        logout,
        &ann.cookie,
        Some(&ann.csrf),
        None,
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    let cleared = out.headers["set-cookie"].to_str().expect("cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let gone = wait_session_status(
        &client,
        &cluster,
        other,
        &ann.cookie,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(gone.error().contains("log in again"), "{}", gone.body);
}

/// An operator moves a resource with its CSRF token, is refused without it or with another
/// session's, cannot add a user, and loses its session everywhere when it is removed.
async fn operator_moves_but_adds_no_user(
    client: &reqwest::Client,
    cluster: &Cluster,
    master: u64,
    other: u64,
) {
    let olly = logged_in(client, cluster, 1, "olly", "olly's long password").await;
    let moving = (Method::POST, "/v1/resources/p1/move");
    let to = serde_json::json!({ "to": other });
    let missing = as_user(
        client,
        cluster,
        other,
        moving.clone(),
        &olly.cookie,
        None,
        Some(to.clone()),
    )
    .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.body);
    assert!(
        missing.error().starts_with("missing X-CSRF-Token header"),
        "{}",
        missing.body
    );
    let forged = auth::csrf_token(&auth::generate_login_secret());
    let wrong = as_user(
        client,
        cluster,
        other,
        moving.clone(),
        &olly.cookie,
        Some(&forged),
        Some(to.clone()),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    assert!(
        wrong.error().contains("does not belong to this session"),
        "{}",
        wrong.body
    );
    let moved = as_user(
        client,
        cluster,
        other,
        moving,
        &olly.cookie,
        Some(&olly.csrf),
        Some(to),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    wait_until("p1 to run where olly moved it", SETTLE, || async {
        let (node, _) = cluster.sole_instance("p1").await?;
        (node == other).then_some(())
    })
    .await;

    let add = (Method::POST, "/v1/users");
    let user = serde_json::json!({ "name": "eve", "role": "admin", "password": "eve's password" });
    let refused = as_user(
        client,
        cluster,
        1,
        add,
        &olly.cookie,
        Some(&olly.csrf),
        Some(user),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(
        refused.error(),
        "this needs the \"admin\" permission; user \"olly\" has role operator"
    );

    // The move is an event in olly's name, as the login was.
    let events = cluster.client(master).events(0, 0).await.expect("events");
    let said: Vec<String> = events.events.iter().map(|e| e.message.clone()).collect();
    assert!(said.iter().any(|m| m == "olly: log in as olly"), "{said:?}");
    assert!(
        said.iter().any(|m| m.starts_with("olly: move p1")),
        "{said:?}"
    );

    let removed = cluster.cli(master, &["user", "remove", "olly"]);
    assert!(removed.status.success(), "{}", e2e::output_text(&removed));
    wait_session_status(
        client,
        cluster,
        other,
        &olly.cookie,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

/// A token bound to a role acts with that role, needs no CSRF token, and says who it is.
async fn role_bound_tokens(client: &reqwest::Client, cluster: &Cluster, master: u64) {
    let made = cluster.cli(
        master,
        &["token", "create", "--role", "viewer", "--label", "watcher"],
    );
    assert!(made.status.success(), "{}", e2e::output_text(&made));
    let token = String::from_utf8(made.stdout).expect("utf-8");
    let bearer = format!("Bearer {}", token.trim());
    let headers = [("authorization", bearer.as_str())];
    let who = call(
        client,
        cluster,
        1,
        Method::GET,
        "/v1/session",
        &headers,
        None,
    )
    .await;
    assert_eq!(who.status, StatusCode::OK, "{}", who.body);
    assert_eq!(who.body["user"], "watcher");
    assert_eq!(who.body["role"], "viewer");
    assert_eq!(who.body["csrf"], "");
    let stop = call(
        client,
        cluster,
        1,
        Method::POST,
        "/v1/resources/p1/stop",
        &headers,
        None,
    )
    .await;
    assert_eq!(stop.status, StatusCode::FORBIDDEN, "{}", stop.body);
    assert_eq!(
        stop.error(),
        "this needs the \"operate\" permission; token \"watcher\" has role viewer"
    );
    // The admin token from `init` stays an admin token.
    let admin = cluster.client(master).session().await.expect("whoami");
    assert_eq!(admin.role, "admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_lock_the_user_and_sessions_expire() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    cluster.wait_master(SETTLE).await;
    let client = browser(&cluster);
    add_user(&cluster, "mallory", "viewer", "mallory's password");
    add_user(&cluster, "sam", "viewer", "sam's long password");

    for attempt in 1..=5 {
        let refused = login(&client, &cluster, 1, "mallory", "guess").await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    // Locked now, even with the right password; other users are not.
    let locked = login(&client, &cluster, 1, "mallory", "mallory's password").await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    let retry_after: u64 = locked.headers["retry-after"]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("seconds");
    assert!(
        (1..=30).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    assert!(
        locked.error().contains("too many failed logins"),
        "{}",
        locked.body
    );
    // The lockout is a warning event, once (the refused try while locked adds none).
    let events = cluster.client(1).events(0, 0).await.expect("events").events;
    let locks: Vec<&str> = (events.iter())
        .filter(|event| event.message.contains("locked for"))
        .map(|event| event.message.as_str())
        .collect();
    assert_eq!(
        locks,
        ["login \"mallory\" locked for 30 s after 5 failed logins in a row"],
        "{events:?}"
    );
    logged_in(&client, &cluster, 1, "sam", "sam's long password").await;

    // A session asked to last one second ends by itself.
    let body = serde_json::json!({
        "user": "sam", "password": "sam's long password", "lifetime_s": 1
    });
    let short = call(
        &client,
        &cluster,
        1,
        Method::POST,
        "/v1/session",
        &[],
        Some(body),
    )
    .await;
    assert_eq!(short.status, StatusCode::OK, "{}", short.body);
    let cookie = short.headers["set-cookie"].to_str().expect("cookie");
    assert!(cookie.contains("Max-Age=1"), "{cookie}");
    let cookie = cookie.split(';').next().expect("pair").to_owned();
    let expired =
        wait_session_status(&client, &cluster, 1, &cookie, StatusCode::UNAUTHORIZED).await;
    assert!(expired.error().contains("expired"), "{}", expired.body);
}

/// A viewer's and an operator's token read the configuration with its secrets hidden: a
/// fence device's password, a webhook's credentials and token; an administrator reads
/// them (so `config export` still round-trips for them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_administrators_read_the_configuration_without_its_secrets() {
    let cluster = Cluster::start(1, 5, &[]).expect("start cluster");
    let master = cluster.wait_master(SETTLE).await;
    #[rustfmt::skip]
    let fence = cluster.cli(master, &[
        "fence", "add", "ipmi", "--agent", "fence_ipmilan", "--hosts", "node1",
        "--param", "ip=198.18.0.1", "--param", "username=admin",
        "--param", "password=ipmi-s3cret",
    ]);
    assert!(fence.status.success(), "{}", e2e::output_text(&fence));
    let hook = "https://bot:hook-pw@127.0.0.1:9/alerts?token=hook-token";
    let alert = cluster.cli(master, &["alert", "add", "hook", "--webhook", hook]);
    assert!(alert.status.success(), "{}", e2e::output_text(&alert));
    let client = browser(&cluster);
    let admin = format!("Bearer {}", cluster.admin_token);
    let secrets = ["ipmi-s3cret", "hook-pw", "hook-token"];
    for role in ["viewer", "operator"] {
        let made = cluster.cli(
            master,
            &["token", "create", "--role", role, "--label", role],
        );
        assert!(made.status.success(), "{}", e2e::output_text(&made));
        let bearer = format!("Bearer {}", String::from_utf8_lossy(&made.stdout).trim());
        for path in ["/v1/fence", "/v1/fence/ipmi", "/v1/alerts", "/v1/config"] {
            let headers = [("authorization", bearer.as_str())];
            let seen = call(&client, &cluster, 1, Method::GET, path, &headers, None).await;
            assert_eq!(seen.status, StatusCode::OK, "{path}: {}", seen.body);
            let text = seen.body.to_string();
            for secret in secrets {
                assert!(
                    !text.contains(secret),
                    "{role} reads {secret} in {path}: {text}"
                );
            }
            assert!(text.contains("(hidden)"), "{path}: {text}");
            let headers = [("authorization", admin.as_str())];
            let full = call(&client, &cluster, 1, Method::GET, path, &headers, None).await;
            let text = full.body.to_string();
            assert!(
                secrets.iter().any(|secret| text.contains(secret)),
                "the administrator reads the secrets in {path}: {text}"
            );
        }
    }
}
