//! Claim checks after the signature verified (docs/aws-compatibility.md#claim-and-scope-checks).

use serde_json::{Map, Value};

use super::token::Failure;
use crate::Reason;

/// The time claims of a token, read once and kept in the verified-token cache so a hit can
/// re-check them against the clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Times {
    pub(crate) exp: f64,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
}

/// `exp` required; `nbf`, `iat` checked when present
/// (docs/aws-compatibility.md#claim-and-scope-checks recommendation). Each must be a JSON number (a
/// string `exp` is invalid: CVE-2026-25537's lesson).
pub(crate) fn read_times(claims: &Map<String, Value>) -> Result<Times, Failure> {
    let number = |name: &str| -> Result<Option<f64>, Failure> {
        match claims.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| (Reason::ClaimInvalid, format!("{name} is not a usable number"))),
            Some(other) => Err((Reason::ClaimInvalid, format!("{name} is {}, not a number", kind(other)))),
        }
    };
    let exp = number("exp")?.ok_or_else(|| (Reason::ClaimMissing, "exp is required".to_owned()))?;
    Ok(Times { exp, nbf: number("nbf")?, iat: number("iat")? })
}

/// Checks the times against `now` (seconds since the epoch) with `leeway` seconds of skew.
pub(crate) fn check_times(times: &Times, now: f64, leeway: f64) -> Result<(), Failure> {
    if now >= times.exp + leeway {
        return Err((Reason::Expired, format!("exp {} is {:.0}s in the past", times.exp, now - times.exp)));
    }
    if let Some(nbf) = times.nbf
        && now + leeway < nbf
    {
        return Err((Reason::NotYetValid, format!("nbf {nbf} is {:.0}s in the future", nbf - now)));
    }
    if let Some(iat) = times.iat
        && iat > now + leeway
    {
        return Err((Reason::IssuedInFuture, format!("iat {iat} is {:.0}s in the future", iat - now)));
    }
    Ok(())
}

/// `iss` must equal the configured issuer exactly (no trailing-slash normalisation, [UNDOC]).
pub(crate) fn check_issuer(claims: &Map<String, Value>, issuer: &str) -> Result<(), Failure> {
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == issuer => Ok(()),
        Some(Value::String(iss)) => Err((Reason::IssuerMismatch, format!("iss {iss:?} is not {issuer:?}"))),
        Some(other) => Err((Reason::IssuerMismatch, format!("iss is {}", kind(other)))),
        None => Err((Reason::IssuerMismatch, "no iss claim".into())),
    }
}

/// `aud` (string or array; any element may match) against the configured audiences; only when
/// `aud` is absent, `client_id` (docs/aws-compatibility.md#claim-and-scope-checks). An empty
/// audience list matches nothing.
pub(crate) fn check_audience(claims: &Map<String, Value>, audiences: &[String]) -> Result<(), Failure> {
    let accepted = |s: &str| audiences.iter().any(|a| a == s);
    let ok = match claims.get("aud") {
        Some(Value::String(aud)) => accepted(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(accepted),
        Some(_) => false,
        None => claims.get("client_id").and_then(Value::as_str).is_some_and(accepted),
    };
    if ok {
        return Ok(());
    }
    let shown = match claims.get("aud") {
        Some(aud) => format!("aud {aud}"),
        None => match claims.get("client_id") {
            Some(id) => format!("no aud; client_id {id}"),
            None => "no aud and no client_id".into(),
        },
    };
    Err((Reason::AudienceMismatch, format!("{shown} matches none of the configured audiences")))
}

/// All scopes of the token: `scope` (space-delimited, RFC 6749 §3.3) and `scp` (string or
/// array: Okta, Azure AD), de-duplicated in order.
pub(crate) fn token_scopes(claims: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    };
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => s.split_whitespace().for_each(&mut push),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(&mut push),
            _ => {}
        }
    }
    out
}

/// Any one route scope present (docs/aws-compatibility.md#claim-and-scope-checks); a route without
/// scopes passes.
pub(crate) fn check_scopes(token_scopes: &[String], route_scopes: &[String]) -> Result<(), String> {
    if route_scopes.is_empty() || route_scopes.iter().any(|r| token_scopes.contains(r)) {
        return Ok(());
    }
    Err(format!(
        "token scopes [{}] include none of the route's [{}]",
        token_scopes.join(" "),
        route_scopes.join(" ")
    ))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn client_id_counts_only_without_aud() {
        let auds = vec!["api".to_owned()];
        assert!(check_audience(&map(json!({"client_id":"api"})), &auds).is_ok());
        assert!(check_audience(&map(json!({"aud":"other","client_id":"api"})), &auds).is_err());
        assert!(check_audience(&map(json!({"aud":["x","api"]})), &auds).is_ok());
        assert!(check_audience(&map(json!({"aud":"ap"})), &auds).is_err());
        assert!(check_audience(&map(json!({"aud":"api"})), &[]).is_err());
    }

    #[test]
    fn scopes_come_from_scope_and_scp_in_both_shapes() {
        let s = token_scopes(&map(json!({"scope":"a b","scp":["b","c"]})));
        assert_eq!(s, ["a", "b", "c"]);
        assert_eq!(token_scopes(&map(json!({"scp":"x y"}))), ["x", "y"]);
        assert!(check_scopes(&s, &["z".into(), "c".into()]).is_ok());
        assert!(check_scopes(&s, &["z".into()]).is_err());
        assert!(check_scopes(&[], &[]).is_ok());
    }

    #[test]
    fn leeway_applies_to_every_time_claim() {
        let t = Times { exp: 200.0, nbf: Some(110.0), iat: Some(110.0) };
        assert_eq!(check_times(&t, 105.0, 0.0).unwrap_err().0, Reason::NotYetValid);
        assert!(check_times(&t, 105.0, 10.0).is_ok());
        assert!(check_times(&t, 209.0, 10.0).is_ok());
        assert_eq!(check_times(&t, 210.0, 10.0).unwrap_err().0, Reason::Expired);
        let t = Times { exp: 200.0, nbf: None, iat: Some(110.0) };
        assert_eq!(check_times(&t, 105.0, 0.0).unwrap_err().0, Reason::IssuedInFuture);
    }
}
