//! The command line: `check` with positioned errors and exit status 2, `--version`, `--help`,
//! `demo-config`.

use std::process::Command;

use crate::harness::{exe, write};

fn check(yaml: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "gateway.yaml", yaml);
    let out = Command::new(exe()).args(["check", "--config"]).arg(&path).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_a_valid_config() {
    let (code, stdout, stderr) =
        check("routes:\n  GET /pets/{id}:\n    http: http://127.0.0.1:3000/pets/{id}\n");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn config_errors_name_file_line_column_and_exit_2() {
    let cases: &[(&str, &str, &[&str])] = &[
        // Unknown key with a suggestion.
        (
            "routes:\n  GET /a:\n    http: http://127.0.0.1:1/a\n    tiemout: 5s\n",
            "gateway.yaml:4:5",
            &["tiemout", "timeout"],
        ),
        // Bad method, with a suggestion.
        ("routes:\n  get /a:\n    http: http://127.0.0.1:1/a\n", "gateway.yaml:2:3", &["GET"]),
        // Greedy variable not last.
        ("routes:\n  GET /{proxy+}/x:\n    http: http://127.0.0.1:1/a\n", "gateway.yaml:2:3", &["last"]),
        // Duplicate variable names.
        ("routes:\n  GET /{id}/{id}:\n    http: http://127.0.0.1:1/a\n", "gateway.yaml:2:3", &["id"]),
        // Duplicate routes (same shape).
        (
            "routes:\n  GET /p/{id}:\n    http: http://127.0.0.1:1/a\n  GET /p/{pid}:\n    http: http://127.0.0.1:1/b\n",
            "gateway.yaml:4:3",
            &["GET /p/{id}"],
        ),
        // Bad URL.
        ("routes:\n  GET /a:\n    http: ftp://example.com/a\n", "gateway.yaml:3:11", &["http"]),
        // Placeholder that is not a route variable.
        ("routes:\n  GET /a/{id}:\n    http: http://127.0.0.1:1/{name}\n", "gateway.yaml:3:11", &["name"]),
        // Bad duration.
        (
            "routes:\n  GET /a:\n    http: http://127.0.0.1:1/a\n    timeout: 5 parsecs\n",
            "gateway.yaml:4:14",
            &["duration"],
        ),
    ];
    for (yaml, position, words) in cases {
        let (code, _, stderr) = check(yaml);
        assert_eq!(code, 2, "expected exit 2 for:\n{yaml}\nstderr: {stderr}");
        assert!(stderr.contains(position), "expected {position} in:\n{stderr}\nfor:\n{yaml}");
        for word in *words {
            assert!(stderr.contains(word), "expected {word:?} in:\n{stderr}");
        }
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let (code, _, stderr) = check(
        "routes:\n  GET /a:\n    http: http://127.0.0.1:1/a\n    tiemout: 5s\n  BAD /b:\n    http: nope\n",
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("gateway.yaml:4:"), "{stderr}");
    assert!(stderr.contains("gateway.yaml:5:"), "{stderr}");
}

#[test]
fn serve_refuses_a_bad_config_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.yaml", "listen: not-an-address\n");
    let out = Command::new(exe()).args(["serve", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml:1:"));
}

#[test]
fn version_help_and_demo_config() {
    let version = Command::new(exe()).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = Command::new(exe()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for word in ["serve", "check", "demo-config", "Examples:", "--log-format"] {
        assert!(help.contains(word), "--help lacks {word}: {help}");
    }
    let demo = Command::new(exe()).arg("demo-config").output().unwrap();
    assert!(demo.status.success());
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "demo.yaml", &String::from_utf8_lossy(&demo.stdout));
    let checked = Command::new(exe()).args(["check", "--config"]).arg(&path).output().unwrap();
    assert!(
        checked.status.success(),
        "the printed demo config is valid: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn serve_refuses_a_config_that_fails_to_compile_with_exit_2_and_prints_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "gw.yaml",
        "authorizers:\n  a:\n    type: jwt\n    issuer: https://idp.example.com\n    audience: [x]\n    jwks_file: missing.json\nroutes:\n  GET /x: {respond: {body: x}, authorizer: a}\n",
    );
    let out = Command::new(exe())
        .args(["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.matches("missing.json").count(), 1, "{stderr}");
}

#[test]
fn log_format_comes_from_the_config_unless_given_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path =
        write(dir.path(), "gw.yaml", "log: {format: pretty}\nroutes:\n  GET /x: {respond: {body: x}}\n");
    let mut child = Command::new(exe())
        .args(["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--config"])
        .arg(&path)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut first = String::new();
    let mut byte = [0u8; 1];
    while std::io::Read::read(&mut stderr, &mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        first.push(byte[0] as char);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("ready") && !first.trim_start().starts_with('{'), "pretty, not JSON: {first}");
}

#[test]
fn check_warns_about_handler_files_and_commands_that_do_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "present.mjs", "export const handler = async () => ({});\n");
    let path = write(
        dir.path(),
        "gateway.yaml",
        "functions:\n  here: {runtime: nodejs, handler: present.handler}\n  gone: {runtime: nodejs, handler: src/app.handler}\n\
         \x20 py: {runtime: python, handler: lambda_function.handler}\n  native: {runtime: provided, command: ./bin/bootstrap}\n\
         \x20 nodir: {runtime: nodejs, handler: x.handler, dir: nowhere}\n",
    );
    let out = Command::new(exe()).args(["check", "--config"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "warnings, not errors: {stderr}");
    let warnings: Vec<&str> =
        stderr.lines().filter(|l| l.starts_with("warning: ") && l.contains("functions.")).collect();
    assert_eq!(warnings.len(), 4, "{stderr}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("functions.gone: handler `src/app.handler`: none of")
                && w.contains("src/app.mjs")),
        "{stderr}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("functions.py: handler `lambda_function.handler`")
            && w.contains("lambda_function.py")),
        "{stderr}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("functions.native: command `") && w.contains("bin/bootstrap` not found")),
        "{stderr}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("functions.nodir: directory") && w.contains("does not exist")),
        "{stderr}"
    );
    assert!(!stderr.contains("functions.here"), "{stderr}");
}

#[test]
fn routes_prints_each_routes_authorizer_scopes_and_integration_in_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "gateway.yaml",
        "stage: v1\nauthorizers:\n  idp: {type: jwt, issuer: dev, audience: [api]}\n\
         routes:\n  POST /orders: {authorizer: idp, scopes: [orders:write, admin], http: http://127.0.0.1:3000/orders}\n\
         \x20 GET /health: {respond: {body: ok}}\n",
    );
    let out = Command::new(exe()).args(["routes", "--config"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "2 routes:", "{table}");
    let columns = |line: &str| -> Vec<String> {
        line.trim().split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
    };
    assert_eq!(columns(lines[1]), ["route", "authorizer", "scopes", "integration"], "{table}");
    let orders = columns(lines[2]);
    assert_eq!(orders[..4], ["POST /orders", "(under /v1)", "idp", "orders:write admin"], "{table}");
    assert!(orders[4].contains("http://127.0.0.1:3000/orders"), "{table}");
    let health = columns(lines[3]);
    assert_eq!(health[..4], ["GET /health", "(under /v1)", "public", "-"], "{table}");
    // Every column starts at the same offset on each line.
    let offset = |line: &str, text: &str| line.find(text).unwrap();
    assert_eq!(offset(lines[1], "authorizer"), offset(lines[2], "idp"), "{table}");
    assert_eq!(offset(lines[1], "scopes"), offset(lines[3], "-"), "{table}");
}

#[test]
fn a_failure_that_is_not_the_configs_exits_1_without_a_position_and_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    // The config is valid; the machine is not: state_dir's parent is a file.
    write(dir.path(), "notadir", "x");
    let path = write(
        dir.path(),
        "gw.yaml",
        "state_dir: notadir/state\nauthorizers:\n  dev: {type: jwt, issuer: dev, audience: [api]}\nroutes:\n  GET /a: {authorizer: dev, respond: {body: a}}\n",
    );
    // `check` prepares the development issuer's key there too, and says the same.
    let checked = Command::new(exe()).args(["check", "--config"]).arg(&path).output().unwrap();
    let said = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(1), "{said}");
    assert!(said.contains("state_dir could not be created") && !said.contains("gw.yaml:"), "{said}");
    let out = Command::new(exe())
        .args(["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("gw.yaml:"), "not reported as a config error: {stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(last.starts_with("error: starting the gateway: state_dir could not be created: "), "{last}");
    assert_eq!(last.matches("Not a directory").count(), 1, "each cause once: {last}");
}

/// `check` compiles the whole config with stand-ins: it starts no function, fetches no keys and
/// connects to no Redis.
#[test]
fn check_starts_nothing_fetches_nothing_and_connects_to_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let idp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redis = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    write(
        dir.path(),
        "started.mjs",
        "import { writeFileSync } from 'node:fs';\nwriteFileSync('started', 'yes');\nexport const handler = async () => ({ statusCode: 200 });\n",
    );
    let path = write(
        dir.path(),
        "gw.yaml",
        &format!(
            "shared_state: {{redis: \"redis://{}\"}}\nfunctions:\n  f: {{runtime: nodejs, handler: started.handler, prewarm: 1}}\n\
             authorizers:\n  idp: {{type: jwt, issuer: \"http://{}/idp\", audience: [api], jwks_uri: \"http://{}/jwks.json\"}}\n\
             \x20 fn: {{type: lambda, function: f, event: request, identity_source: [$request.header.x-key], result_ttl: 0s}}\n\
             routes:\n  GET /a: {{authorizer: idp, respond: {{body: a}}, throttle: {{rate: 1, burst: 1}}}}\n  GET /f: {{function: f, authorizer: fn}}\n",
            redis.local_addr().unwrap(),
            idp.local_addr().unwrap(),
            idp.local_addr().unwrap()
        ),
    );
    let out = Command::new(exe()).args(["check", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for (what, listener) in [("the identity provider", &idp), ("Redis", &redis)] {
        listener.set_nonblocking(true).unwrap();
        let accepted = listener.accept();
        assert!(
            matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "check connected to {what}: {accepted:?}"
        );
    }
    assert!(!dir.path().join("started").exists(), "check started the function");
}
