//! A real `redis-server` for tests (the Debian package), on a free port of 127.0.0.1, with
//! nothing persisted; stopped and started again to test faults.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) `redis-server`. Dropping it stops the server.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// Arguments beyond the port and the no-persistence ones.
    extra: Vec<String>,
    /// Whether `port` speaks TLS.
    tls: bool,
}

fn required() -> bool {
    std::env::var_os("PORTCULLIS_REQUIRE_INTEROP").is_some()
}

impl RedisServer {
    /// Starts one; `None` (with a note on stderr) when `redis-server` is not installed and the
    /// interop tests are not required.
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with more `redis-server` arguments (e.g. `--cluster-enabled yes`).
    pub fn start_with(extra: &[&str]) -> Option<Self> {
        Self::launch(extra.iter().map(|a| (*a).to_owned()).collect(), false)
    }

    /// A server speaking only TLS on its port, with this certificate and key (PEM files).
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Option<Self> {
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        let extra = ["--tls-cert-file", &cert, "--tls-key-file", &key, "--tls-auth-clients", "no"];
        Self::launch(extra.iter().map(|a| (*a).to_owned()).collect(), true)
    }

    fn launch(extra: Vec<String>, tls: bool) -> Option<Self> {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).ok()?;
        let mut server = RedisServer { port, child: None, extra, tls };
        match server.spawn() {
            Ok(()) => Some(server),
            Err(error) => {
                assert!(!required(), "redis-server could not be started: {error}");
                eprintln!("SKIPPED: redis-server not available ({error}); install the redis-server package");
                None
            }
        }
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let port = self.port.to_string();
        let listen: &[&str] =
            if self.tls { &["--port", "0", "--tls-port", &port] } else { &["--port", &port] };
        let child = Command::new("redis-server")
            .args(listen)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other("redis-server did not listen within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// `redis://127.0.0.1:PORT` (`rediss://localhost:PORT` for a TLS server: the name its
    /// certificate is for).
    pub fn url(&self) -> String {
        if self.tls {
            format!("rediss://localhost:{}", self.port)
        } else {
            format!("redis://127.0.0.1:{}", self.port)
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis-cli -p PORT ARGS…` (plain servers only): what it printed, trimmed.
    ///
    /// # Panics
    /// When `redis-cli` cannot be run.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli (the redis-tools package)");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing answers, as a Redis
    /// slower than any timeout.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
        }
    }

    /// Kills the server (as a crash would) and waits until its port is closed.
    pub fn stop(&mut self) {
        self.resume();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    ///
    /// # Panics
    /// When it cannot be started.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().expect("restart redis-server");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
