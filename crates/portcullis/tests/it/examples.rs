//! The runnable examples under `examples/`, one per seed guide, run the way their READMEs say:
//! the README's command starts the gateway (on ephemeral ports), its `NAME=$(portcullis token
//! ...)` lines mint the tokens, each `curl` line is a request whose comment (`# 200: body`) is
//! the answer it must get, and each `$ portcullis check ...` block is exactly what that command
//! prints. A README that drifts from its example fails here. On top of what the READMEs say:
//! every refused request was refused before its function (the access log shows no integration),
//! and each README keeps the cases its guide is about.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use http::Method;

use crate::harness::{SpawnedGateway, TestClient, exe, wait_until};

/// `examples/NAME` in the repository.
fn source_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

/// A copy of `examples/NAME` in a temp dir, without what running it generates (`node_modules`,
/// `build`, the state directory): the gateway writes its state beside the config.
fn copy_example(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("create dir");
        for entry in std::fs::read_dir(from).expect("read example dir") {
            let entry = entry.expect("dir entry");
            let name = entry.file_name();
            if ["node_modules", "build", ".portcullis"].iter().any(|skip| name == *skip) {
                continue;
            }
            let target = to.join(&name);
            if entry.file_type().expect("file type").is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy file");
            }
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    copy(&source_dir(name), dir.path());
    dir
}

/// `PATH` with the binary under test first, so that the READMEs' `portcullis` is it.
fn path_with_portcullis() -> String {
    let bin = exe().parent().expect("binary directory").display().to_string();
    format!("{bin}:{}", std::env::var("PATH").unwrap_or_default())
}

/// One `curl` line of a README: the request and the answer its comment promises.
#[derive(Debug)]
struct Request {
    line: String,
    path: String,
    header: Option<String>,
    status: u16,
    body: String,
}

/// What a README says, read from its fenced code blocks.
struct Readme {
    blocks: Vec<Vec<String>>,
}

impl Readme {
    fn read(dir: &Path) -> Self {
        let text = std::fs::read_to_string(dir.join("README.md")).expect("README.md");
        let mut blocks = Vec::new();
        let mut current: Option<Vec<String>> = None;
        for line in text.lines() {
            if line.starts_with("```") {
                match current.take() {
                    Some(block) => blocks.push(block),
                    None => current = Some(Vec::new()),
                }
            } else if let Some(block) = current.as_mut() {
                block.push(line.to_owned());
            }
        }
        Readme { blocks }
    }

    fn lines(&self) -> impl Iterator<Item = &str> {
        self.blocks.iter().flatten().map(String::as_str)
    }

    /// The one command that runs the example.
    fn run_command(&self) -> Vec<String> {
        let line = self
            .lines()
            .find(|l| l.starts_with("./run.sh") || l.starts_with("portcullis serve"))
            .expect("the README says how to run the example");
        line.split_whitespace().map(str::to_owned).collect()
    }

    /// `NAME=$(command)` lines, in order.
    fn assignments(&self) -> Vec<(String, String)> {
        self.lines()
            .filter_map(|l| {
                let (name, rest) = l.split_once("=$(")?;
                let command = rest.strip_suffix(')')?;
                name.chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_')
                    .then(|| (name.to_owned(), command.to_owned()))
            })
            .collect()
    }

    /// `curl localhost:8080/PATH [-H "NAME: VALUE"]   # STATUS: BODY` lines, in order.
    fn requests(&self) -> Vec<Request> {
        self.lines()
            .filter(|l| l.starts_with("curl "))
            .map(|line| {
                let (command, expected) =
                    line.rsplit_once("# ").unwrap_or_else(|| panic!("no answer: {line}"));
                let (status, body) = expected
                    .split_once(": ")
                    .unwrap_or_else(|| panic!("answer is not `STATUS: body`: {line}"));
                let path = command
                    .split_whitespace()
                    .find_map(|word| word.strip_prefix("localhost:8080"))
                    .unwrap_or_else(|| panic!("no localhost:8080 URL: {line}"));
                let header = command
                    .split_once("-H \"")
                    .map(|(_, rest)| rest.split_once('"').expect("closing quote").0.to_owned());
                Request {
                    line: line.to_owned(),
                    path: path.to_owned(),
                    header,
                    status: status.trim().parse().unwrap_or_else(|_| panic!("status: {line}")),
                    body: body.trim().to_owned(),
                }
            })
            .collect()
    }

    /// Each `$ portcullis check ...` command with the output shown below it.
    fn checks(&self) -> Vec<(Vec<String>, String)> {
        let mut checks: Vec<(Vec<String>, Vec<&str>)> = Vec::new();
        for block in &self.blocks {
            let mut in_check = false;
            for line in block {
                if let Some(command) = line.strip_prefix("$ ") {
                    in_check = command.starts_with("portcullis check");
                    if in_check {
                        checks.push((
                            command.split_whitespace().skip(1).map(str::to_owned).collect(),
                            Vec::new(),
                        ));
                    }
                } else if in_check {
                    checks.last_mut().expect("a check").1.push(line);
                }
            }
        }
        checks.into_iter().map(|(args, output)| (args, output.join("\n"))).collect()
    }

    /// Asserts that the README sends `path` with `header` (as written, `$NAME` and all) and
    /// promises `status`: the cases the guide is about stay in the README, and so in this test.
    fn promises(&self, path: &str, header: Option<&str>, status: u16) {
        assert!(
            self.requests()
                .iter()
                .any(|r| r.path == path && r.header.as_deref() == header && r.status == status),
            "the README has no request to {path} with {header:?} answered {status}"
        );
    }
}

/// `$NAME` in `text` replaced by the values minted.
fn substitute(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let name: String =
            rest[at + 1..].chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
        out.push_str(vars.get(&name).unwrap_or_else(|| panic!("${name} is not minted in the README")));
        rest = &rest[at + 1 + name.len()..];
    }
    out.push_str(rest);
    out
}

/// An example running as its README says, in its own copy.
struct Running {
    dir: tempfile::TempDir,
    readme: Readme,
    gateway: SpawnedGateway,
}

impl Running {
    /// Copies the example, lets `prepare` add what it needs, and starts the README's command.
    fn start(name: &str, prepare: impl FnOnce(&Path)) -> Self {
        let dir = copy_example(name);
        prepare(dir.path());
        let readme = Readme::read(dir.path());
        let command = readme.run_command();
        let (program, args) = command.split_first().expect("a command");
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
        let path = format!("PATH={}", path_with_portcullis());
        let gateway = SpawnedGateway::spawn_wrapped(&["env", &path], Path::new(program), &args, dir.path());
        Running { dir, readme, gateway }
    }

    /// Mints the README's tokens with its own commands, run by `sh` in the example's directory.
    fn mint(&self) -> HashMap<String, String> {
        self.readme
            .assignments()
            .into_iter()
            .map(|(name, command)| {
                let out = Command::new("sh")
                    .args(["-c", &command])
                    .env("PATH", path_with_portcullis())
                    .current_dir(self.dir.path())
                    .output()
                    .expect("run sh");
                assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
                (name, String::from_utf8_lossy(&out.stdout).trim().to_owned())
            })
            .collect()
    }

    /// Sends every request of the README and checks each answer, then checks in the access log
    /// that no refused request reached its integration.
    async fn try_everything(&self) {
        let vars = self.mint();
        let client = TestClient::http1();
        let mut wrong = Vec::new();
        let mut refused = Vec::new();
        let mut allowed = Vec::new();
        for request in self.readme.requests() {
            let header = request.header.as_deref().map(|h| substitute(h, &vars));
            let headers: Vec<(&str, &str)> = header
                .as_deref()
                .map(|h| h.split_once(": ").expect("`name: value` header"))
                .into_iter()
                .collect();
            let url = format!("{}{}", self.gateway.url(), request.path);
            let reply = client.send(Method::GET, &url, &headers, "").await;
            if (reply.status.as_u16(), reply.text()) != (request.status, request.body.clone()) {
                wrong.push(format!(
                    "{}\n    got {} {} (deny reason: {:?})",
                    request.line,
                    reply.status.as_u16(),
                    reply.text(),
                    reply.header("x-portcullis-deny-reason")
                ));
            }
            let id = reply.header("apigw-requestid").expect("apigw-requestid").to_owned();
            if reply.status.is_success() { allowed.push(id) } else { refused.push((id, request.line)) }
        }
        assert!(wrong.is_empty(), "answers differ from the README:\n{}", wrong.join("\n"));

        // The access log is written by a thread of its own: wait for every line.
        let log = || -> HashMap<String, serde_json::Value> {
            self.gateway
                .stdout_lines()
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|r| Some((r["request_id"].as_str()?.to_owned(), r)))
                .collect()
        };
        let all_logged = wait_until(Duration::from_secs(5), || {
            let log = log();
            allowed.iter().chain(refused.iter().map(|(id, _)| id)).all(|id| log.contains_key(id))
        })
        .await;
        assert!(all_logged, "an access-log line per request");
        let log = log();
        for (id, line) in &refused {
            let record = &log[id];
            assert!(record.get("integration_latency_ms").is_none(), "the function ran for: {line}\n{record}");
            assert!(matches!(record["authorizer"].as_str(), Some("deny" | "error")), "{line}\n{record}");
        }
        for id in &allowed {
            assert!(log[id].get("integration_latency_ms").is_some(), "{}", log[id]);
        }
    }
}

impl Drop for Running {
    /// A failing test shows what the gateway logged.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- gateway stderr ---\n{}", self.gateway.stderr_lines().join("\n"));
        }
    }
}

/// Runs every `$ portcullis check ...` block of the README in a copy of the example and
/// compares what it prints (stderr, then stdout) with the block; returns how many there were.
fn check_blocks_print_what_the_readme_says(name: &str) -> usize {
    let dir = copy_example(name);
    let checks = Readme::read(dir.path()).checks();
    for (args, expected) in &checks {
        let out =
            Command::new(exe()).args(args).current_dir(dir.path()).output().expect("run portcullis check");
        let printed =
            format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
        assert_eq!(
            printed.trim_end(),
            expected.trim_end(),
            "`portcullis {}` in examples/{name}",
            args.join(" ")
        );
        let valid = expected.lines().last().is_some_and(|l| l.contains(": OK ("));
        assert_eq!(out.status.code(), Some(if valid { 0 } else { 2 }), "{expected}");
    }
    assert!(
        checks.iter().any(|(args, _)| args.windows(2).any(|w| w == ["--compat", "aws"])),
        "no --compat aws"
    );
    checks.len()
}

/// The Clerk example needs npm's `jsonwebtoken` for the guide's authorizer: the Clerk fixture's
/// `node_modules` (installed by scripts/test.sh) is linked into the copy, as `npm install`
/// would put it there. `None` (a loud skip) when it is not installed, unless
/// `PORTCULLIS_REQUIRE_INTEROP` is set.
fn clerk_node_modules() -> Option<PathBuf> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clerk-authz/node_modules");
    if !fixture.join("jsonwebtoken").exists() {
        assert!(
            std::env::var_os("PORTCULLIS_REQUIRE_INTEROP").is_none(),
            "jsonwebtoken is not installed in {} (run scripts/test.sh)",
            fixture.display()
        );
        eprintln!(
            "SKIPPED: npm install in {} to run examples/clerk",
            fixture.parent().unwrap_or(&fixture).display()
        );
        return None;
    }
    Some(fixture)
}

#[tokio::test]
async fn clerk_jwt_and_admin_only_lambda_authorizers_answer_as_the_readme_says() {
    let Some(node_modules) = clerk_node_modules() else { return };
    // The fixture's modules stand in for the example's own `npm install`: same version.
    let dependency = |package: &Path| {
        let text = std::fs::read_to_string(package).expect("package.json");
        serde_json::from_str::<serde_json::Value>(&text).expect("JSON")["dependencies"]["jsonwebtoken"]
            .clone()
    };
    assert_eq!(
        dependency(&source_dir("clerk").join("package.json")),
        dependency(&node_modules.with_file_name("package.json"))
    );
    let example = Running::start("clerk", |dir| {
        std::os::unix::fs::symlink(&node_modules, dir.join("node_modules")).expect("link node_modules");
    });
    assert_eq!(example.readme.run_command(), ["./run.sh"]);
    // run.sh pasted the development issuer's key into a copy of the guide's file, which stays
    // as the guide wrote it.
    let guide =
        std::fs::read_to_string(example.dir.path().join("authorizer/index.js")).expect("guide's file");
    assert!(guide.contains("const publicKey = `{PASTE YOUR PEM KEY HERE}`"));
    let built = std::fs::read_to_string(example.dir.path().join("build/ClerkLambdaAuthorizer/index.js"))
        .expect("run.sh's copy");
    let pem = Command::new(exe())
        .args(["token", "--print-pem"])
        .current_dir(example.dir.path())
        .output()
        .expect("portcullis token --print-pem")
        .stdout;
    let pem = String::from_utf8(pem).expect("PEM text");
    assert_eq!(built, guide.replace("{PASTE YOUR PEM KEY HERE}", pem.trim()));

    example.try_everything().await;
    let readme = &example.readme;
    readme.promises("/me", Some("Authorization: Bearer $ADMIN"), 200);
    readme.promises("/me", Some("Authorization: Bearer $EXPIRED"), 401);
    readme.promises("/me", Some("Authorization: Bearer $OTHER_AUD"), 401);
    readme.promises("/admin", Some("Authorization: Bearer $ADMIN"), 200);
    readme.promises("/admin", Some("Authorization: Bearer $MEMBER"), 403);
    readme.promises("/admin", None, 401);
    readme.promises("/me", None, 401);
    let claims = example.readme.assignments();
    assert!(claims.iter().any(|(name, command)| name == "ADMIN"
        && command.contains("--claim azp=")
        && command.contains("--aud ClerkJwtAuthorizer")
        && command.contains(r#"'metadata={"role":"admin"}'"#)));
}

#[test]
fn clerk_readme_shows_what_check_compat_aws_prints() {
    assert_eq!(check_blocks_print_what_the_readme_says("clerk"), 1);
}

#[tokio::test]
async fn wso2_token_with_or_without_bearer_and_the_client_id_as_audience() {
    let example = Running::start("wso2", |_| {});
    assert_eq!(example.readme.run_command(), ["portcullis", "serve", "--dev"]);
    example.try_everything().await;
    let readme = &example.readme;
    readme.promises("/hello", Some("Authorization: Bearer $TOKEN"), 200);
    readme.promises("/hello", Some("Authorization: $TOKEN"), 200);
    readme.promises("/hello", Some("Authorization: $CLIENT_ID_ONLY"), 200);
    readme.promises("/hello", Some("Authorization: Bearer $EXPIRED"), 401);
    readme.promises("/hello", Some("Authorization: Bearer $OTHER_CLIENT"), 401);
    readme.promises("/hello", None, 401);
    let config = std::fs::read_to_string(example.dir.path().join("portcullis.yaml")).expect("config");
    let client_id = "Xfi8_4mXGFeLl3kXWgKpG7ZD3F0a";
    assert!(config.contains(&format!("audience: [{client_id}]")));
    let tokens = readme.assignments();
    assert!(tokens.iter().any(|(name, c)| name == "TOKEN" && c.contains(&format!("--aud {client_id}"))));
    assert!(tokens.iter().any(|(name, c)| name == "CLIENT_ID_ONLY"
        && !c.contains("--aud")
        && c.contains(&format!("--claim client_id={client_id}"))));
}

#[test]
fn wso2_readme_shows_what_check_compat_aws_prints() {
    assert_eq!(check_blocks_print_what_the_readme_says("wso2"), 1);
}

#[tokio::test]
async fn sst_auth0_sam_template_serves_public_and_private_routes() {
    let example = Running::start("sst-auth0", |_| {});
    assert_eq!(
        example.readme.run_command(),
        ["portcullis", "serve", "--dev", "--sam", "template.yaml", "--config", "local.yaml"]
    );
    example.try_everything().await;
    let readme = &example.readme;
    readme.promises("/public", None, 200);
    readme.promises("/private", None, 401);
    readme.promises("/private", Some("Authorization: Bearer $TOKEN"), 200);
    readme.promises("/private", Some("Authorization: Bearer $EXPIRED"), 401);
    readme.promises("/private", Some("Authorization: Bearer $OTHER_APP"), 401);
    assert!(readme.requests().iter().any(|r| r.body == "Hello auth0|alice!"));
    // The guide's handlers, as it writes them.
    let private = std::fs::read_to_string(example.dir.path().join("src/private.js")).expect("handler");
    assert!(private.contains("body: `Hello ${event.requestContext.authorizer.jwt.claims.sub}!`"));
}

#[test]
fn sst_auth0_readme_shows_what_check_compat_aws_prints() {
    assert_eq!(check_blocks_print_what_the_readme_says("sst-auth0"), 2);
}

#[tokio::test]
async fn supertokens_needs_aud_and_a_verified_email_where_the_rule_says() {
    let example = Running::start("supertokens", |_| {});
    assert_eq!(example.readme.run_command(), ["portcullis", "serve", "--dev"]);
    example.try_everything().await;
    let readme = &example.readme;
    readme.promises("/billing", Some("Authorization: Bearer $VERIFIED"), 200);
    readme.promises("/billing", Some("Authorization: Bearer $UNVERIFIED"), 403);
    readme.promises("/billing", Some("Authorization: Bearer $NO_EV"), 403);
    readme.promises("/sessioninfo", Some("Authorization: Bearer $UNVERIFIED"), 200);
    readme.promises("/sessioninfo", Some("Authorization: Bearer $NO_AUD"), 401);
    readme.promises("/sessioninfo", Some("Authorization: Bearer $EXPIRED"), 401);
    readme.promises("/sessioninfo", None, 401);
    let tokens = readme.assignments();
    assert!(tokens.iter().any(|(name, c)| name == "NO_AUD" && !c.contains("--aud")));
    assert!(tokens.iter().any(|(name, c)| name == "NO_EV" && !c.contains("st-ev")));
    // The rule refused them, and the log says which.
    let logged = wait_until(Duration::from_secs(5), || {
        example
            .gateway
            .stderr_lines()
            .iter()
            .any(|l| l.contains("claims['st-ev'].v == true") && l.contains("denied"))
    })
    .await;
    assert!(logged, "the log names the rule");
}

#[test]
fn supertokens_readme_shows_what_check_compat_aws_prints() {
    assert_eq!(check_blocks_print_what_the_readme_says("supertokens"), 1);
}
