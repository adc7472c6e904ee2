//! The real `portcullis` binary, spawned as a child process, with its output collected.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running gateway process. Killed on drop.
pub struct SpawnedGateway {
    child: Child,
    /// The main listener, from the ready line.
    pub listen: SocketAddr,
    /// The admin listener, from the ready line.
    pub admin: SocketAddr,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// The listen and admin addresses of a ready line: JSON (`{"message":"ready","listen":…}`) or
/// human-readable (`… INFO  ready listen=ADDR admin=ADDR …`, colours and `\r` ignored).
fn ready_line(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
        if v["message"] != "ready" {
            return None;
        }
        return Some((v["listen"].as_str()?.parse().ok()?, v["admin"].as_str()?.parse().ok()?));
    }
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // An escape sequence `ESC [ … letter`.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\r' {
            plain.push(c);
        }
    }
    let mut words = plain.split_whitespace();
    words.find(|w| *w == "ready")?;
    let field = |name: &str| {
        plain.split_whitespace().find_map(|w| w.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    };
    Some((field("listen")?, field("admin")?))
}

fn collect(reader: impl std::io::Read + Send + 'static, sink: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if let Ok(mut lines) = sink.lock() {
                lines.push(line);
            }
        }
    });
}

impl SpawnedGateway {
    /// Run `exe args…` (JSON logs are forced) and wait up to 30 s for its ready line.
    /// Panics with the process output if it exits or never gets ready.
    pub fn spawn(exe: &Path, args: &[&str], cwd: &Path) -> Self {
        Self::spawn_wrapped(&[], exe, args, cwd)
    }

    /// [`spawn`](Self::spawn) through a wrapper program that execs the gateway, e.g.
    /// `["prlimit", "--nofile=1024:1024", "--"]`: the pid stays the gateway's.
    pub fn spawn_wrapped(wrapper: &[&str], exe: &Path, args: &[&str], cwd: &Path) -> Self {
        Self::launch(wrapper, exe, &[&["--log-format", "json"], args].concat(), cwd)
    }

    /// [`spawn`](Self::spawn) without choosing the log format: the gateway picks it as it would
    /// for a user. The ready line is found in JSON or in the human-readable format, on stderr or
    /// stdout (a program holding a terminal for the gateway prints both on its stdout).
    pub fn spawn_as_is(exe: &Path, args: &[&str], cwd: &Path) -> Self {
        Self::launch(&[], exe, args, cwd)
    }

    /// [`spawn`](Self::spawn) with more environment variables.
    pub fn spawn_with_env(exe: &Path, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Self {
        Self::launch_with(&[], exe, &[&["--log-format", "json"], args].concat(), cwd, env)
    }

    fn launch(wrapper: &[&str], exe: &Path, args: &[&str], cwd: &Path) -> Self {
        Self::launch_with(wrapper, exe, args, cwd, &[])
    }

    fn launch_with(wrapper: &[&str], exe: &Path, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        let mut child = command
            .args(args)
            .envs(env.iter().copied())
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn portcullis");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("stdout"), Arc::clone(&stdout));
        collect(child.stderr.take().expect("stderr"), Arc::clone(&stderr));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = [&stderr, &stdout]
                .iter()
                .find_map(|sink| sink.lock().ok().and_then(|lines| lines.iter().find_map(|l| ready_line(l))));
            if let Some((listen, admin)) = ready {
                return SpawnedGateway { child, listen, admin, stdout, stderr };
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "portcullis exited with {status} before ready; stderr:\n{}",
                    stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "portcullis not ready in 30 s; stderr:\n{}",
                stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://listen`.
    pub fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lines written to stdout so far (the access log).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Lines written to stderr so far (diagnostic logs).
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Send a signal by name (`TERM`, `INT`, `HUP`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Wait for exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// A `/proc/PID/status` field in kB (`VmRSS`, `VmHWM`).
    pub fn memory_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| {
                line.strip_prefix(field)?
                    .trim_start_matches(':')
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }
}

impl Drop for SpawnedGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `check` every 10 ms until it is true or `limit` passes; returns whether it became true.
pub async fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check()
}
