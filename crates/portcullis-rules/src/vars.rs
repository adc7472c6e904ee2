//! Builds the CEL variables of one request: only those the rules read, only the keys they read
//! where they read them by literal names, and borrowing every string from the request and the
//! claims instead of copying it.

use std::collections::HashMap;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use http::request::Parts;
use portcullis_core::{AuthContext, CallContext};
use serde_json::{Map, Value};

use crate::check::{Need, Needs};

type Boxed<'v> = Box<dyn Val + 'v>;

/// The variables of one request, handed to CEL through [`VariableResolver`] so that each is
/// built once and then lent to every rule (no per-lookup clone).
pub(crate) struct Vars<'v> {
    claims: Option<Boxed<'v>>,
    request: Option<Boxed<'v>>,
    route: Option<Boxed<'v>>,
    authorizer: Option<Boxed<'v>>,
}

impl VariableResolver for Vars<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let v = match variable {
            "claims" => self.claims.as_deref(),
            "request" => self.request.as_deref(),
            "route" => self.route.as_deref(),
            "authorizer" => self.authorizer.as_deref(),
            _ => None,
        }?;
        Some(CowVal::Borrowed(v))
    }
}

impl<'v> Vars<'v> {
    pub(crate) fn build(needs: &Needs, parts: &'v Parts, ctx: &'v CallContext) -> Vars<'v> {
        Vars {
            claims: (!needs.claims.is_none()).then(|| claims(&needs.claims, &ctx.auth)),
            request: (!needs.request.is_none()).then(|| request(needs, parts, ctx)),
            route: (!needs.route.is_none()).then(|| route(&needs.route, ctx)),
            authorizer: (!needs.authorizer.is_none()).then(|| authorizer(&needs.authorizer, &ctx.auth)),
        }
    }
}

fn s<'v>(v: impl Into<CelString<'v>>) -> Boxed<'v> {
    Box::new(v.into())
}

fn map<'v>(entries: HashMap<CelMapKey<'v>, Boxed<'v>>) -> Boxed<'v> {
    Box::new(CelMap::from(entries))
}

/// A JSON value as CEL: integers that fit `int` are `int`, other integers `uint`, the rest
/// `double`; strings are borrowed.
pub(crate) fn json<'v>(v: &'v Value) -> Boxed<'v> {
    match v {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        Value::String(st) => s(st.as_str()),
        Value::Array(items) => Box::new(CelList::from(items.iter().map(json).collect::<Vec<_>>())),
        Value::Object(obj) => json_object(obj, &Need::All),
    }
}

fn json_object<'v>(obj: &'v Map<String, Value>, need: &Need) -> Boxed<'v> {
    let entries = match need {
        Need::Keys(keys) => keys
            .iter()
            .filter_map(|k| obj.get_key_value(k.as_str()))
            .map(|(k, v)| (CelMapKey::from(k.as_str()), json(v)))
            .collect(),
        _ => obj.iter().map(|(k, v)| (CelMapKey::from(k.as_str()), json(v))).collect(),
    };
    map(entries)
}

fn claims<'v>(need: &Need, auth: &'v AuthContext) -> Boxed<'v> {
    match auth {
        AuthContext::Jwt(jwt) => json_object(&jwt.claims, need),
        _ => map(HashMap::new()),
    }
}

fn authorizer<'v>(need: &Need, auth: &'v AuthContext) -> Boxed<'v> {
    let mut entries = HashMap::new();
    if let AuthContext::Lambda(lambda) = auth {
        if need.wants("principal_id")
            && let Some(p) = &lambda.principal_id
        {
            entries.insert(CelMapKey::from("principal_id"), s(p.as_str()));
        }
        if need.wants("context") {
            let ctx = match &lambda.context {
                Some(c) => json_object(c, &Need::All),
                None => map(HashMap::new()),
            };
            entries.insert(CelMapKey::from("context"), ctx);
        }
    }
    map(entries)
}

fn route<'v>(need: &Need, ctx: &'v CallContext) -> Boxed<'v> {
    let mut entries = HashMap::new();
    if need.wants("key") {
        entries.insert(CelMapKey::from("key"), s(&*ctx.route_key));
    }
    if need.wants("params") {
        let params = ctx.params.iter().map(|p| (CelMapKey::from(&*p.name), s(p.decoded.as_str()))).collect();
        entries.insert(CelMapKey::from("params"), map(params));
    }
    map(entries)
}

fn request<'v>(needs: &Needs, parts: &'v Parts, ctx: &'v CallContext) -> Boxed<'v> {
    let need = &needs.request;
    let mut entries = HashMap::new();
    if need.wants("method") {
        entries.insert(CelMapKey::from("method"), s(parts.method.as_str()));
    }
    if need.wants("path") {
        entries.insert(CelMapKey::from("path"), s(parts.uri.path()));
    }
    if need.wants("source_ip") {
        entries.insert(CelMapKey::from("source_ip"), s(ctx.client_addr.ip().to_string()));
    }
    if need.wants("headers") {
        entries.insert(CelMapKey::from("headers"), headers(&needs.headers, &parts.headers));
    }
    if need.wants("query") {
        entries.insert(CelMapKey::from("query"), query(&needs.query, parts.uri.query().unwrap_or("")));
    }
    map(entries)
}

/// Header values as text: borrowed when valid UTF-8, repeats joined with `,`
/// (docs/aws-compatibility.md#payload-20-request-event: how API Gateway joins duplicate headers in
/// the 2.0 event).
fn headers<'v>(need: &Need, headers: &'v http::HeaderMap) -> Boxed<'v> {
    let entries = match need {
        Need::Keys(names) => names
            .iter()
            .filter_map(|n| {
                let v = portcullis_events::header_value(headers, n.as_str())?;
                Some((CelMapKey::from(n.clone()), s(v)))
            })
            .collect(),
        _ => headers
            .keys()
            .filter_map(|n| {
                let v = portcullis_events::header_value(headers, n)?;
                Some((CelMapKey::from(n.as_str()), s(v)))
            })
            .collect(),
    };
    map(entries)
}

fn query<'v>(need: &Need, raw: &str) -> Boxed<'v> {
    // The same values a payload 2.0 `queryStringParameters` carries
    // (docs/aws-compatibility.md#payload-20-request-event).
    let entries = portcullis_events::joined_query(raw)
        .into_iter()
        .filter(|(k, _)| need.wants(k))
        .map(|(k, v)| (CelMapKey::from(k), s(v)))
        .collect();
    map(entries)
}

/// Every key of a JSON object as a CEL map (the benchmark's measure of the `claims` build).
pub(crate) fn json_object_all(obj: &Map<String, Value>) -> Boxed<'_> {
    json_object(obj, &Need::All)
}
