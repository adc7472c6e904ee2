//! Key lifecycle against a real HTTP identity provider under test control:
//! discovery, sharing, rotation, outage, slow IdP, random-kid flood, Cache-Control, limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_jwks::testing::{TestIdp, TestKey};
use portcullis_jwks::{Algorithm, JwksError, JwksOptions, JwksRegistry, KeyError, KeySource, KeyStore};
use serde_json::json;

fn fast_options() -> JwksOptions {
    JwksOptions {
        fetch_timeout: Duration::from_millis(500),
        request_wait: Duration::from_millis(800),
        refetch_interval: Duration::from_millis(300),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..JwksOptions::default()
    }
}

async fn discovery_store(idp: &TestIdp, options: JwksOptions) -> (JwksRegistry, Arc<KeyStore>) {
    let registry = JwksRegistry::new(options).unwrap();
    let store = registry.store(KeySource::Discovery { issuer: idp.issuer() }).unwrap();
    (registry, store)
}

/// Polls `cond` every 10 ms for at most `within`.
async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

#[tokio::test]
async fn discovery_finds_the_jwks_and_one_fetch_serves_many_lookups() {
    let idp = TestIdp::start().await;
    let key = TestKey::rsa("k1");
    idp.set_keys(&[&key]);
    let (_registry, store) = discovery_store(&idp, fast_options()).await;
    store.ready(Duration::from_secs(2)).await.unwrap();
    for _ in 0..200 {
        assert_eq!(store.key(Some("k1"), Algorithm::RS256).await.unwrap().kid(), Some("k1"));
    }
    assert_eq!(idp.discovery_hits(), 1);
    assert_eq!(idp.jwks_hits(), 1);
}

#[tokio::test]
async fn authorizers_naming_the_same_issuer_share_one_store() {
    let idp = TestIdp::start().await;
    idp.set_keys(&[&TestKey::es256("e")]);
    let registry = JwksRegistry::new(fast_options()).unwrap();
    let a = registry.store(KeySource::Discovery { issuer: idp.issuer() }).unwrap();
    let b = registry.store(KeySource::Discovery { issuer: idp.issuer() }).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let outcomes = registry.ready_all(Duration::from_secs(2)).await;
    assert_eq!(outcomes.len(), 1);
    assert!(outcomes[0].1.is_ok());
    assert_eq!(idp.jwks_hits(), 1);
}

#[tokio::test]
async fn stores_for_several_issuers_fetch_in_parallel_at_start_up() {
    let a = TestIdp::start().await;
    let b = TestIdp::start().await;
    a.set_keys(&[&TestKey::es256("a")]);
    b.set_keys(&[&TestKey::es256("b")]);
    a.set_delay(Duration::from_millis(300));
    b.set_delay(Duration::from_millis(300));
    let registry = JwksRegistry::new(fast_options()).unwrap();
    let _sa = registry.store(KeySource::Discovery { issuer: a.issuer() }).unwrap();
    let _sb = registry.store(KeySource::JwksUri(b.jwks_url())).unwrap();
    let started = Instant::now();
    let outcomes = registry.ready_all(Duration::from_secs(3)).await;
    assert!(outcomes.iter().all(|(_, r)| r.is_ok()), "{outcomes:?}");
    // Sequential would be 300 ms (discovery) + 300 ms (jwks) + 300 ms (jwks) = 900 ms; parallel 600 ms.
    assert!(started.elapsed() < Duration::from_millis(820), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_rotated_key_is_found_by_one_refetch_and_a_removed_key_stops_working() {
    let idp = TestIdp::start().await;
    let old = TestKey::rsa("old");
    let new = TestKey::rsa("new");
    idp.set_keys(&[&old]);
    let (_registry, store) = discovery_store(&idp, fast_options()).await;
    store.ready(Duration::from_secs(2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await; // past the refetch interval
    idp.set_keys(&[&new]);
    assert_eq!(store.key(Some("new"), Algorithm::RS256).await.unwrap().kid(), Some("new"));
    assert_eq!(idp.jwks_hits(), 2);
    assert_eq!(store.key(Some("old"), Algorithm::RS256).await.unwrap_err(), KeyError::UnknownKid);
}

#[tokio::test]
async fn a_flood_of_random_kids_makes_only_a_handful_of_idp_requests() {
    let idp = TestIdp::start().await;
    idp.set_keys(&[&TestKey::es256("real")]);
    let options = JwksOptions { refetch_interval: Duration::from_secs(10), ..fast_options() };
    let (_registry, store) = discovery_store(&idp, options).await;
    store.ready(Duration::from_secs(2)).await.unwrap();
    let before = idp.jwks_hits();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..2000 {
        let store = Arc::clone(&store);
        tasks.spawn(async move { store.key(Some(&format!("random-{i}")), Algorithm::ES256).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap_err(), KeyError::UnknownKid);
    }
    let extra = idp.jwks_hits() - before;
    assert!(extra <= 1, "{extra} IdP requests for 2000 random kids");
    assert_eq!(idp.discovery_hits(), 1);
    // The real key is still served without waiting.
    assert!(store.key(Some("real"), Algorithm::ES256).await.is_ok());
}

#[tokio::test]
async fn when_the_idp_goes_down_the_last_good_keys_are_served_with_backoff() {
    let idp = TestIdp::start().await;
    idp.set_keys(&[&TestKey::rsa("k1")]);
    idp.set_cache_control(Some("max-age=0"));
    let options = JwksOptions { min_ttl: Duration::from_millis(100), ..fast_options() };
    let (_registry, store) = discovery_store(&idp, options).await;
    store.ready(Duration::from_secs(2)).await.unwrap();
    idp.set_down(true);
    let before = idp.jwks_hits();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let attempts = idp.jwks_hits() - before;
    // Background refresh keeps trying, but backs off (50, 100, 200, 200 ... ms), not a busy loop.
    assert!((2..=12).contains(&attempts), "{attempts} attempts in 1.2 s");
    assert!(store.key(Some("k1"), Algorithm::RS256).await.is_ok());
    let status = store.status();
    assert!(status.last_error.unwrap().contains("503"));
    // Recovery: the next refresh succeeds and clears the error.
    idp.set_down(false);
    assert!(eventually(Duration::from_secs(3), || store.status().last_error.is_none()).await);
}

#[tokio::test]
async fn keys_older_than_the_staleness_bound_are_not_used() {
    let idp = TestIdp::start().await;
    idp.set_keys(&[&TestKey::rsa("k1")]);
    let options = JwksOptions { max_staleness: Duration::from_millis(400), ..fast_options() };
    let (_registry, store) = discovery_store(&idp, options).await;
    store.ready(Duration::from_secs(2)).await.unwrap();
    idp.set_down(true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    match store.key(Some("k1"), Algorithm::RS256).await {
        Err(KeyError::Unavailable(why)) => assert!(why.contains("old"), "{why}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_slow_idp_makes_requests_fail_closed_within_the_wait_bound() {
    let idp = TestIdp::start().await;
    idp.set_keys(&[&TestKey::rsa("k1")]);
    idp.set_delay(Duration::from_secs(5));
    let options = JwksOptions { request_wait: Duration::from_millis(300), ..fast_options() };
    let (_registry, store) = discovery_store(&idp, options).await;
    let started = Instant::now();
    let outcome = store.key(Some("k1"), Algorithm::RS256).await;
    let waited = started.elapsed();
    assert!(matches!(outcome, Err(KeyError::Unavailable(_))), "{outcome:?}");
    assert!(waited < Duration::from_millis(700), "waited {waited:?}");
    // The fetch itself times out at fetch_timeout (500 ms) and says so.
    assert!(
        eventually(Duration::from_secs(2), || store
            .status()
            .last_error
            .is_some_and(|e| e.contains("no answer")))
        .await
    );
}

#[tokio::test]
async fn cache_control_max_age_drives_the_background_refresh() {
    let idp = TestIdp::start().await;
    idp.set_keys(&[&TestKey::rsa("k1")]);
    idp.set_cache_control(Some("public, max-age=1"));
    let options = JwksOptions { min_ttl: Duration::from_millis(500), ..fast_options() };
    let (_registry, store) = discovery_store(&idp, options).await;
    store.ready(Duration::from_secs(2)).await.unwrap();
    assert_eq!(store.current().unwrap().ttl, Duration::from_secs(1));
    // Refreshed at 90 % of max-age, i.e. after ~0.9 s.
    assert!(eventually(Duration::from_secs(3), || idp.jwks_hits() >= 2).await);
    // A long max-age is honoured too: no refresh soon after.
    idp.set_cache_control(Some("max-age=3600"));
    assert!(
        eventually(Duration::from_secs(3), || store
            .current()
            .is_some_and(|c| c.ttl == Duration::from_secs(3600)))
        .await
    );
    let hits = idp.jwks_hits();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(idp.jwks_hits(), hits);
}

#[tokio::test]
async fn max_age_is_clamped_to_the_configured_bounds() {
    let idp = TestIdp::start().await;
    idp.set_keys(&[&TestKey::rsa("k1")]);
    idp.set_cache_control(Some("max-age=999999999"));
    let options = JwksOptions { max_ttl: Duration::from_secs(7200), ..fast_options() };
    let (_registry, store) = discovery_store(&idp, options).await;
    store.ready(Duration::from_secs(2)).await.unwrap();
    assert_eq!(store.current().unwrap().ttl, Duration::from_secs(7200));
    idp.set_cache_control(None);
    let idp2 = TestIdp::start().await;
    idp2.set_keys(&[&TestKey::rsa("k2")]);
    let (_r2, s2) = discovery_store(&idp2, fast_options()).await;
    s2.ready(Duration::from_secs(2)).await.unwrap();
    assert_eq!(s2.current().unwrap().ttl, Duration::from_secs(3600), "default 1 h without Cache-Control");
}

#[tokio::test]
async fn an_oversized_jwks_is_refused() {
    let idp = TestIdp::start().await;
    let mut doc = json!({"keys": [TestKey::rsa("k1").jwk()]});
    doc["padding"] = json!("x".repeat(160_000));
    idp.set_jwks(doc);
    let (_registry, store) = discovery_store(&idp, fast_options()).await;
    match store.ready(Duration::from_millis(800)).await {
        Err(KeyError::Unavailable(why)) => assert!(why.contains("larger than 150000"), "{why}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn identity_provider_urls_must_be_https_except_loopback() {
    let registry = JwksRegistry::new(fast_options()).unwrap();
    let err = registry.store(KeySource::Discovery { issuer: "http://idp.example.com".into() }).unwrap_err();
    assert!(matches!(err, JwksError::InsecureUrl { .. }), "{err}");
    let err = registry.store(KeySource::JwksUri("http://10.1.2.3/jwks".parse().unwrap())).unwrap_err();
    assert!(matches!(err, JwksError::InsecureUrl { .. }));
    assert!(registry.store(KeySource::Discovery { issuer: "https://idp.example.com/".into() }).is_ok());
}

#[tokio::test]
async fn a_jwks_uri_from_discovery_must_be_https_too() {
    // Discovery on loopback pointing at a plain-http remote jwks_uri is refused.
    let idp = TestIdp::start().await;
    let registry = JwksRegistry::new(fast_options()).unwrap();
    // The test IdP's discovery names its own loopback jwks_uri, which is fine:
    idp.set_keys(&[&TestKey::es256("e")]);
    let store = registry.store(KeySource::Discovery { issuer: idp.issuer() }).unwrap();
    store.ready(Duration::from_secs(2)).await.unwrap();
}

#[tokio::test]
async fn x5c_only_rsa_keys_are_usable() {
    let key = TestKey::rsa("cert-key");
    let pkcs8 = key.rsa_pkcs8();
    let pair =
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.as_slice().into(), &rcgen::PKCS_RSA_SHA256)
            .unwrap();
    let cert = rcgen::CertificateParams::new(vec!["idp.test".into()]).unwrap().self_signed(&pair).unwrap();
    use base64::Engine as _;
    let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
    let registry = JwksRegistry::new(fast_options()).unwrap();
    let store = registry
        .store(KeySource::Static(
            json!({"keys": [{"kty": "RSA", "kid": "cert-key", "use": "sig", "x5c": [x5c]}]}),
        ))
        .unwrap();
    let found = store.key(Some("cert-key"), Algorithm::RS256).await.unwrap();
    let (n, e) = key.rsa_components().unwrap();
    let direct = registry
        .store(KeySource::Static(json!({"keys": [{"kty": "RSA", "kid": "cert-key", "n": portcullis_jwks::testing::b64(n), "e": portcullis_jwks::testing::b64(e)}]})))
        .unwrap();
    assert_eq!(
        found.fingerprint(),
        direct.key(Some("cert-key"), Algorithm::RS256).await.unwrap().fingerprint()
    );
}

#[tokio::test]
async fn pem_public_key_files_work_for_any_kid() {
    let key = TestKey::rsa("clerk");
    let dir = tempfile::tempdir().unwrap();
    let registry = JwksRegistry::new(fast_options()).unwrap();
    for (name, pem) in [("spki.pem", key.rsa_spki_pem()), ("pkcs1.pem", key.rsa_public_pem())] {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        let store = registry.store(KeySource::PublicKeyPem(path)).unwrap();
        assert!(store.key(Some("ins_2abc"), Algorithm::RS256).await.is_ok());
        assert!(store.key(None, Algorithm::RS256).await.is_ok());
        assert_eq!(store.key(None, Algorithm::ES256).await.unwrap_err(), KeyError::UnknownKid);
    }
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a key").unwrap();
    assert!(matches!(registry.store(KeySource::PublicKeyPem(bad)), Err(JwksError::Parse { .. })));
}

#[tokio::test]
async fn jwks_files_are_read_once_at_creation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    std::fs::write(&path, json!({"keys": [TestKey::ed25519("ed").jwk()]}).to_string()).unwrap();
    let registry = JwksRegistry::new(fast_options()).unwrap();
    let store = registry.store(KeySource::JwksFile(path.clone())).unwrap();
    assert!(store.key(Some("ed"), Algorithm::EdDSA).await.is_ok());
    assert!(matches!(
        registry.store(KeySource::JwksFile(dir.path().join("missing.json"))),
        Err(JwksError::Io { .. })
    ));
}

#[tokio::test]
async fn shutdown_stops_the_background_tasks() {
    let idp = TestIdp::start().await;
    idp.set_keys(&[&TestKey::rsa("k1")]);
    let (registry, store) = discovery_store(&idp, fast_options()).await;
    store.ready(Duration::from_secs(2)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), registry.shutdown()).await.expect("tasks end on shutdown");
}
