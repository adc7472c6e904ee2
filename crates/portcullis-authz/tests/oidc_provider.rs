//! Interop with a real OpenID Provider we did not write: panva/oidc-provider (npm) issues JWT
//! access tokens through client_credentials; the authorizer must find its keys by discovery and
//! accept the tokens. Needs `npm install` in `tests/oidc-provider/`; skips loudly without it.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use portcullis_authz::{Authorizer, JwtAuthorizer, JwtSettings, Reason, RouteAuth, Trace};
use portcullis_core::{AuthContext, CallContext, Params, RequestIdGenerator};
use portcullis_jwks::{JwksOptions, JwksRegistry, KeySource};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

fn provider_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider");
    let node = std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if node && dir.join("node_modules/oidc-provider").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("PORTCULLIS_REQUIRE_INTEROP").is_none(),
        "oidc-provider interop is required (PORTCULLIS_REQUIRE_INTEROP) but node or `npm install` in {} is missing",
        dir.display()
    );
    eprintln!(
        "\n\n*** SKIPPED: oidc-provider interop needs node and `npm install` in {} ***\n\n",
        dir.display()
    );
    None
}

fn ctx() -> CallContext {
    CallContext {
        request_id: RequestIdGenerator::new(3).next_id(),
        client_addr: ([127, 0, 0, 1], 1).into(),
        tls: false,
        local_port: 80,
        trace_id: portcullis_core::TraceId::default(),
        route_key: Arc::from("GET /orders/{id}"),
        params: Params::default(),
        received_at: std::time::SystemTime::now(),
        auth: AuthContext::None,
    }
}

#[tokio::test]
async fn access_tokens_from_oidc_provider_are_accepted_via_discovery() {
    let Some(dir) = provider_dir() else { return };
    for alg in ["RS256", "PS256", "ES256", "ES384", "EdDSA"] {
        let mut child = tokio::process::Command::new("node")
            .arg("idp.mjs")
            .arg(alg)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Its stderr is kept to explain a failure to start.
        let mut stderr = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await;
            text
        });
        // oidc-provider prints its development warnings on stdout too; ours is the JSON line.
        let first_json = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.starts_with('{') {
                    return Some(line);
                }
            }
            None
        };
        // Usually under a second; the bound allows for node and its modules read from a cold disk
        // on a fresh machine.
        let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(90), first_json).await else {
            let _ = child.kill().await;
            let stderr = stderr.await.unwrap_or_default();
            panic!(
                "oidc-provider ({alg}) printed no token (it exited, or 90 s passed); its stderr:\n{stderr}"
            );
        };
        let started: Value = serde_json::from_str(&line).unwrap();
        let issuer = started["issuer"].as_str().unwrap();
        let token = started["token"].as_str().unwrap();

        let registry = JwksRegistry::new(JwksOptions::default()).unwrap();
        let store = registry.store(KeySource::Discovery { issuer: issuer.to_owned() }).unwrap();
        let settings = JwtSettings::new(issuer, vec![started["audience"].as_str().unwrap().to_owned()]);
        let authz = JwtAuthorizer::new(settings, store).unwrap();
        let request = || {
            http::Request::builder()
                .header("authorization", format!("Bearer {token}"))
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let outcome = authz
            .authorize(&mut request(), &ctx(), &RouteAuth::with_scopes(["orders:read"]), &mut Trace::off())
            .await;
        match outcome {
            Ok(AuthContext::Jwt(jwt)) => {
                assert_eq!(jwt.claims["client_id"], "gateway-test", "{alg}");
                assert_eq!(jwt.scopes.as_deref().unwrap(), ["orders:read"]);
            }
            other => panic!("{alg}: {other:?}"),
        }
        let denial = authz
            .authorize(&mut request(), &ctx(), &RouteAuth::with_scopes(["orders:write"]), &mut Trace::off())
            .await
            .unwrap_err();
        assert_eq!(denial.reason, Reason::ScopeInsufficient);
        drop(child);
    }
}
