//! A real browser for tests: headless Chromium driven through `chromedriver` with the W3C
//! WebDriver protocol (JSON over HTTP).
//!
//! Only what the tests use: open a page, run a script, wait for a value, take a screenshot. The
//! protocol is a handful of JSON requests, written here on the test client rather than pulling in
//! a WebDriver crate and its dependency tree for four calls.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::Method;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::TestClient;

/// The W3C key of an element reference in a WebDriver answer.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session. Dropping it ends the session and stops the driver.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: TestClient,
    _profile: tempfile::TempDir,
}

/// Whether the tests must have a browser (`PORTCULLIS_REQUIRE_BROWSER` set, as in CI): then a
/// missing one fails the test instead of skipping it.
fn required() -> bool {
    std::env::var_os("PORTCULLIS_REQUIRE_BROWSER").is_some()
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium session; `None` (with a note on stderr)
    /// when either is not installed and the browser is not required.
    pub async fn start() -> Option<Self> {
        let port = free_port();
        let driver = match Command::new("chromedriver")
            .arg(format!("--port={port}"))
            // Its own process group, which Chromium's processes join: see `stop`.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                assert!(!required(), "chromedriver could not be started: {error}");
                eprintln!(
                    "SKIPPED: chromedriver not available ({error}); install chromium and chromium-driver"
                );
                return None;
            }
        };
        let base = format!("http://127.0.0.1:{port}");
        let client = TestClient::http1();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if client.try_get(&format!("{base}/status")).await.is_some_and(|r| r.status == 200) {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer within 20 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("browser profile dir");
        let binary =
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| Path::new(p).exists());
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display()),
            ]
        });
        if let Some(binary) = binary {
            options["binary"] = json!(binary);
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options, "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let reply = client
            .send(
                Method::POST,
                &format!("{base}/session"),
                &[("content-type", "application/json")],
                capabilities.to_string(),
            )
            .await;
        let answer = reply.json();
        let Some(session) = answer["value"]["sessionId"].as_str().map(str::to_owned) else {
            let mut driver = driver;
            stop(&mut driver, profile.path());
            assert!(!required(), "no browser session: {}", reply.text());
            eprintln!("SKIPPED: no browser session: {}", reply.text());
            return None;
        };
        Some(Browser { driver, base, session, client, _profile: profile })
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let reply = self.client.send(method, &url, &[("content-type", "application/json")], body).await;
        let answer = reply.json();
        assert_eq!(reply.status, 200, "WebDriver {path}: {answer}");
        answer["value"].clone()
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.call(Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page; its return value.
    pub async fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.call(Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// Evaluates `expression` until it is neither `null` nor `undefined`, for at most `limit`.
    ///
    /// # Panics
    /// When it stays empty.
    pub async fn wait_for(&self, expression: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        let script = format!("return ({expression}) ?? null;");
        loop {
            let value = self.execute(&script, &[]).await;
            if !value.is_null() {
                return value;
            }
            assert!(Instant::now() < deadline, "`{expression}` stayed empty for {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of the first element matching the CSS `selector`.
    pub async fn text(&self, selector: &str) -> String {
        let found = self
            .call(Method::POST, "/element", Some(json!({"using": "css selector", "value": selector})))
            .await;
        let id = found[ELEMENT].as_str().expect("an element").to_owned();
        self.call(Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Clicks the first element matching the CSS `selector` (as a user would: the element's
    /// `click()`, which runs its handlers and submits its form).
    ///
    /// # Panics
    /// When nothing matches.
    pub async fn click(&self, selector: &str) {
        let clicked = self
            .execute(
                "const e = document.querySelector(arguments[0]); if (!e) return false; e.click(); return true;",
                &[json!(selector)],
            )
            .await;
        assert_eq!(clicked, json!(true), "nothing matches `{selector}`");
    }

    /// Sets the value of the form field matching `selector` and fires `input` and `change`, as
    /// typing (or picking an option) would.
    ///
    /// # Panics
    /// When nothing matches.
    pub async fn fill(&self, selector: &str, value: &str) {
        let filled = self
            .execute(
                "const e = document.querySelector(arguments[0]); if (!e) return false;                 e.value = arguments[1];                 e.dispatchEvent(new Event('input', {bubbles: true}));                 e.dispatchEvent(new Event('change', {bubbles: true}));                 return true;",
                &[json!(selector), json!(value)],
            )
            .await;
        assert_eq!(filled, json!(true), "nothing matches `{selector}`");
    }

    /// Saves a PNG of the page to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.call(Method::GET, "/screenshot", None).await;
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap_or_default()).expect("PNG");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("screenshot dir");
        }
        std::fs::write(path, bytes).expect("write screenshot");
    }

    /// The browser console's messages since the last call (errors, CORS refusals, CSP
    /// violations).
    pub async fn console(&self) -> Vec<String> {
        self.console_entries().await.into_iter().map(|(_, message)| message).collect()
    }

    /// The browser console's errors since the last call (level `SEVERE`: script errors, failed
    /// loads, CSP violations).
    pub async fn console_errors(&self) -> Vec<String> {
        self.console_entries()
            .await
            .into_iter()
            .filter(|(level, _)| level == "SEVERE")
            .map(|(_, message)| message)
            .collect()
    }

    async fn console_entries(&self) -> Vec<(String, String)> {
        let url = format!("{}/session/{}/se/log", self.base, self.session);
        let reply = self
            .client
            .send(Method::POST, &url, &[("content-type", "application/json")], r#"{"type":"browser"}"#)
            .await;
        reply.json()["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| {
                        Some((
                            e["level"].as_str().unwrap_or_default().to_owned(),
                            e["message"].as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session stops Chromium; the driver goes with the test.
        let url = format!("{}/session/{}", self.base, self.session);
        let client = self.client.clone();
        let ended = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().ok().map(|rt| {
                rt.block_on(async {
                    tokio::time::timeout(Duration::from_secs(5), client.send(Method::DELETE, &url, &[], ""))
                        .await
                })
            })
        });
        let _ = ended.join();
        stop(&mut self.driver, self._profile.path());
    }
}

/// Stops the driver and every Chromium process it started. Ending the session leaves some
/// behind (utility processes, crash handlers), which pile up over test runs: the browser's
/// processes are in the driver's process group, and its crash handlers, which start sessions of
/// their own, name the profile directory on their command line.
fn stop(driver: &mut Child, profile: &Path) {
    if let Ok(group) = i32::try_from(driver.id()) {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
    let _ = Command::new("pkill")
        .args(["-KILL", "-f"])
        .arg(profile)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
