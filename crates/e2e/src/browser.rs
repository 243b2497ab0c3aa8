//! Headless Chromium for the web UI's tests: Debian's `chromium` driven through its
//! `chromedriver` over W3C WebDriver (`fantoccini`, no TLS stack, talking to the local
//! driver only). Nothing is downloaded: a missing browser or driver fails the test with
//! the `apt-get` line that installs them (`scripts/test.sh` installs both).
//!
//! Every method that takes a selector reads it as CSS, or as XPath when it starts with `/`
//! (a CSS selector never does): XPath finds an element by its role and name, as `button`
//! and `after_heading` write it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};

const DRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A running chromedriver with one headless browser session; both end on drop.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    driver_url: String,
    _profile: tempfile::TempDir,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `selector` as a WebDriver locator: XPath when it starts with `/`, else CSS.
fn locator(selector: &str) -> Locator<'_> {
    if selector.starts_with('/') {
        Locator::XPath(selector)
    } else {
        Locator::Css(selector)
    }
}

/// XPath of the button whose accessible name is `name`: its `aria-label`, or its text when
/// it has none (`name` holds no `'`).
pub fn button(name: &str) -> String {
    assert!(!name.contains('\''), "{name:?} holds a quote");
    format!("//button[@aria-label='{name}' or (not(@aria-label) and normalize-space(.)='{name}')]")
}

/// XPath of the first `tag` element after the `h2` (or `h3`) heading `heading`, such as
/// the table a heading introduces (`heading` holds no `'`).
pub fn after_heading(heading: &str, tag: &str) -> String {
    assert!(!heading.contains('\''), "{heading:?} holds a quote");
    format!("//*[self::h2 or self::h3][normalize-space(.)='{heading}']/following-sibling::{tag}[1]")
}

/// Installs, in the page, a watcher that records (in `window.encluster_seen[key]`) the
/// wall-clock time in ms since the Unix epoch at which an element matching the CSS
/// selector first holds every needle in its text; a `MutationObserver` sees the change as
/// the page makes it, so the time does not depend on how often the test polls.
const WATCH: &str = r#"
const [key, css, needles] = arguments;
const seen = window.encluster_seen = window.encluster_seen || {};
delete seen[key];
const shown = () => Array.from(document.querySelectorAll(css))
  .some((el) => needles.every((needle) => el.textContent.includes(needle)));
const record = () => { seen[key] = performance.timeOrigin + performance.now(); };
if (shown()) { record(); return; }
const observer = new MutationObserver(() => {
  if (shown()) { record(); observer.disconnect(); }
});
observer.observe(document.body, { childList: true, subtree: true, characterData: true });
"#;

impl Browser {
    /// Start chromedriver and a headless Chromium that trusts any certificate (the
    /// cluster's CA is its own) with a window of 1400 x 1000.
    pub async fn start() -> anyhow::Result<Browser> {
        for path in [DRIVER, CHROMIUM] {
            if !std::path::Path::new(path).exists() {
                bail!("{path} is missing: apt-get install -y chromium chromium-driver");
            }
        }
        let port = free_port()?;
        let profile = tempfile::tempdir()?;
        let mut driver = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start chromedriver")?;
        let url = format!("http://127.0.0.1:{port}");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1400,1000".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = serde_json::json!({
            "acceptInsecureCerts": true,
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal");
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => {
                    let _ = driver.kill();
                    bail!("no WebDriver session from {DRIVER}: {error}");
                }
            }
        };
        Ok(Browser {
            client,
            driver,
            driver_url: url,
            _profile: profile,
        })
    }

    /// Run the DevTools protocol command `method` in the page (through chromedriver's
    /// `goog/cdp/execute`, e.g. `Performance.getMetrics`); its result.
    pub async fn cdp(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let session = self
            .client
            .session_id()
            .await?
            .context("no WebDriver session")?;
        let url = format!("{}/session/{session}/goog/cdp/execute", self.driver_url);
        let body = serde_json::json!({ "cmd": method, "params": params });
        // The driver speaks plain HTTP, but reqwest wants a TLS provider to build a client.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let answer = reqwest::Client::new().post(url).json(&body).send().await?;
        let status = answer.status();
        let mut answer: serde_json::Value = answer.json().await?;
        if !status.is_success() {
            bail!("{method}: chromedriver answered {status}: {answer}");
        }
        Ok(answer["value"].take())
    }

    /// Open `url` and wait for the page's script to have shown something.
    pub async fn open(&self, url: &str) -> anyhow::Result<()> {
        self.client.goto(url).await?;
        Ok(())
    }

    /// The text of the first element matching `css`, once there is one (within `timeout`).
    pub async fn text_of(&self, css: &str, timeout: Duration) -> anyhow::Result<String> {
        let element = self.wait_for(css, timeout).await?;
        Ok(element.text().await?)
    }

    /// The first element matching `css`, waiting for it up to `timeout`.
    pub async fn wait_for(
        &self,
        css: &str,
        timeout: Duration,
    ) -> anyhow::Result<fantoccini::elements::Element> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(element) = self.client.find(locator(css)).await {
                return Ok(element);
            }
            if Instant::now() >= deadline {
                bail!("no element {css:?} after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the text of the element matching `css` satisfies `check`; the text.
    pub async fn wait_text(
        &self,
        css: &str,
        timeout: Duration,
        what: &str,
        check: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            if let Ok(element) = self.client.find(locator(css)).await
                && let Ok(text) = element.text().await
            {
                if check(&text) {
                    return Ok(text);
                }
                last = text;
            }
            if Instant::now() >= deadline {
                bail!("{what}: {css:?} did not show it within {timeout:?}; it shows {last:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Type `text` into the field matching `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.wait_for(css, Duration::from_secs(10)).await?;
        element.clear().await?;
        element.send_keys(text).await?;
        Ok(())
    }

    /// Choose the option with `value` in the `<select>` matching `css`.
    pub async fn choose(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let element = self.wait_for(css, Duration::from_secs(10)).await?;
        element.select_by_value(value).await?;
        Ok(())
    }

    /// Click the element matching `css`.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.wait_for(css, Duration::from_secs(10)).await?;
        element.click().await?;
        Ok(())
    }

    /// Whether the element matching `css` is absent or not displayed (e.g. `hidden`).
    pub async fn is_hidden(&self, css: &str) -> anyhow::Result<bool> {
        match self.client.find(locator(css)).await {
            Ok(element) => Ok(!element.is_displayed().await?),
            Err(_) => Ok(true),
        }
    }

    /// Start watching the page for an element matching the CSS selector `css` whose text
    /// holds every one of `needles`; `seen_at_ms(key, ..)` tells when it first did. The
    /// watch lasts until the page is reloaded (the UI changes pages without a reload).
    pub async fn watch(&self, key: &str, css: &str, needles: &[&str]) -> anyhow::Result<()> {
        let args = vec![key.into(), css.into(), serde_json::json!(needles)];
        self.client.execute(WATCH, args).await?;
        Ok(())
    }

    /// When (ms since the Unix epoch, fractional) the page first showed what `watch(key,
    /// ..)` waits for, polling every 20 ms up to `timeout`.
    pub async fn seen_at_ms(&self, key: &str, timeout: Duration) -> anyhow::Result<f64> {
        let deadline = Instant::now() + timeout;
        let script = "return (window.encluster_seen || {})[arguments[0]] ?? null;";
        loop {
            let seen = self.client.execute(script, vec![key.into()]).await?;
            if let Some(at_ms) = seen.as_f64() {
                return Ok(at_ms);
            }
            if Instant::now() >= deadline {
                bail!("the page did not show {key:?} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Save a screenshot of the whole window as `<dir>/<name>.png`; its path.
    pub async fn screenshot(&self, dir: &std::path::Path, name: &str) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await?)?;
        Ok(path)
    }

    /// End the session and the driver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let closed = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        closed?;
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Where the UI tests save their screenshots: `$UI_SCREENSHOTS` or
/// `<target>/<profile>/ui-screenshots` (beside the binaries under test).
pub fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("UI_SCREENSHOTS") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test executable has a path");
    exe.parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/deps/<test>")
        .join("ui-screenshots")
}
