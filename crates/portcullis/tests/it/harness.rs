//! Start a gateway from a YAML snippet in its own temp dir.

use std::path::{Path, PathBuf};

pub(crate) use portcullis_test_support::{
    Behavior, RecordingUpstream, SpawnedGateway, TestClient, wait_until,
};

/// The binary under test.
pub(crate) fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_portcullis"))
}

/// A gateway serving `yaml` (which must not set listen/admin: ephemeral ports are forced).
pub(crate) struct Gw {
    pub(crate) proc: SpawnedGateway,
    pub(crate) dir: tempfile::TempDir,
}

impl Gw {
    pub(crate) fn start(yaml: &str) -> Self {
        Self::start_with(yaml, &[], &[])
    }

    /// Start with more environment variables (e.g. `PORTCULLIS_REQUEST_THREADS`).
    pub(crate) fn start_env(yaml: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(yaml, &[], &[], env)
    }

    /// Start with extra files in the config directory and extra CLI arguments.
    pub(crate) fn start_with(yaml: &str, files: &[(&str, &str)], extra: &[&str]) -> Self {
        Self::launch(yaml, files, extra, &[])
    }

    fn launch(yaml: &str, files: &[(&str, &str)], extra: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, contents) in files {
            write(dir.path(), name, contents);
        }
        let config = write(dir.path(), "portcullis.yaml", yaml);
        let config = config.to_str().expect("utf-8 path").to_owned();
        let mut args =
            vec!["serve", "--config", &config, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let proc = SpawnedGateway::spawn_with_env(exe(), &args, dir.path(), env);
        Gw { proc, dir }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.proc.url(), path)
    }

    /// SIGHUP, then waits (up to 10 s) until the gateway says it reloaded.
    pub(crate) async fn reload(&self) {
        let reloads =
            || self.proc.stderr_lines().iter().filter(|l| l.contains("configuration reloaded")).count();
        let before = reloads();
        self.proc.signal("HUP");
        assert!(
            wait_until(std::time::Duration::from_secs(10), || reloads() > before).await,
            "no reload: {}",
            self.proc.stderr_lines().join("\n")
        );
    }

    /// Parsed access-log lines so far.
    pub(crate) fn access_log(&self) -> Vec<serde_json::Value> {
        self.proc.stdout_lines().iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

/// `portcullis SUBCOMMAND --config portcullis.yaml ARGS` run in `dir`: the exit code and what
/// it printed (stdout, then stderr).
pub(crate) fn cli(dir: &Path, subcommand: &str, args: &[&str]) -> (Option<i32>, String) {
    cli_env(dir, subcommand, args, &[])
}

/// [`cli`] with more environment variables.
pub(crate) fn cli_env(
    dir: &Path,
    subcommand: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let out = std::process::Command::new(exe())
        .args([subcommand, "--config", "portcullis.yaml"])
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("run portcullis");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// A token from the development issuer of the config in `dir` (`portcullis token ARGS`): what
/// it printed on stdout (warnings go to stderr).
pub(crate) fn mint(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new(exe())
        .args(["token", "--config", "portcullis.yaml"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run portcullis token");
    assert_eq!(out.status.code(), Some(0), "token failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub(crate) fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent dirs");
    }
    std::fs::write(&path, contents).expect("write file");
    path
}

impl Drop for Gw {
    /// A failing test shows what the gateway logged: the first thing anyone debugging wants.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- gateway stderr ---\n{}", self.proc.stderr_lines().join("\n"));
        }
    }
}
