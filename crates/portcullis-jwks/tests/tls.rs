//! Key fetches use rustls: an IdP behind HTTPS signed by a private CA is reachable once the CA is
//! added through `JwksOptions::extra_root_certificates`, and refused without it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use portcullis_jwks::testing::TestKey;
use portcullis_jwks::{Algorithm, JwksOptions, JwksRegistry, KeyError, KeySource};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;

/// An HTTPS JWKS endpoint on 127.0.0.1:0; returns its URL and the CA certificate (DER).
async fn https_idp(jwks: String) -> (url::Url, Vec<u8>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert =
        CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&server_key, &ca).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(server_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let jwks = jwks.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |_req| {
                    let body = jwks.clone();
                    async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body)))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    let url = url::Url::parse(&format!("https://127.0.0.1:{port}/jwks")).unwrap();
    (url, ca.der().to_vec())
}

#[tokio::test]
async fn https_idp_with_a_private_ca_needs_the_ca_in_the_options() {
    let jwks = json!({"keys": [TestKey::es256("tls-key").jwk()]}).to_string();
    let (url, ca) = https_idp(jwks).await;

    let trusting =
        JwksRegistry::new(JwksOptions { extra_root_certificates: vec![ca], ..JwksOptions::default() })
            .unwrap();
    let store = trusting.store(KeySource::JwksUri(url.clone())).unwrap();
    store.ready(Duration::from_secs(3)).await.unwrap();
    assert!(store.key(Some("tls-key"), Algorithm::ES256).await.is_ok());

    let default = JwksRegistry::new(JwksOptions::default()).unwrap();
    let store = default.store(KeySource::JwksUri(url)).unwrap();
    match store.ready(Duration::from_secs(2)).await {
        Err(KeyError::Unavailable(why)) => assert!(why.to_lowercase().contains("cert"), "{why}"),
        other => panic!("an unknown CA must be refused, got {other:?}"),
    }
}
