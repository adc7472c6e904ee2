//! `portcullis explain` on the real pipeline: the route and authorize stages of a compiled
//! [`Snapshot`], run on one request with a recording [`Trace`], so an explanation is exactly
//! what serving that request would decide. Statuses come from the one table in
//! [`crate::respond`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use http::request::Parts;
use portcullis_authz::{Denial, Sibling, Step, Trace};
use portcullis_core::{AuthContext, CallContext, RequestIdGenerator, TraceId};

use crate::access_log::AccessRecord;
use crate::plan::{Access, Snapshot};
use crate::respond::Rejection;
use crate::{authorize, route};

/// What the pipeline decided for one request, and every check on the way.
#[derive(Debug)]
pub struct Explained {
    /// The matched route key, if any route matched.
    pub route_key: Option<Arc<str>>,
    /// The authorizer's name, when the route has one.
    pub authorizer: Option<Arc<str>>,
    /// The checks, in order (empty for a public route without rules).
    pub steps: Vec<Step>,
    /// `Ok` with what the authorizer established, or the rejection a client would get (and,
    /// for an authorizer's denial, the denial with its reason code).
    pub outcome: Result<AuthContext, (Rejection, Option<Denial>)>,
}

impl Explained {
    /// Whether the request would reach its integration.
    pub fn allowed(&self) -> bool {
        self.outcome.is_ok()
    }
}

/// Routes `parts` on `snapshot` and runs its authorize stage with a recording trace. A Lambda
/// authorizer's answer cache is used as serving would use it: explain the same identity twice to
/// see a cached answer at work. `siblings` are other routes of the same authorizer, noted when a
/// cached answer would deny them.
pub async fn explain(snapshot: &Snapshot, mut parts: Parts, siblings: Vec<Sibling>) -> Explained {
    let (plan, params) = match route::request(snapshot, &parts.method, parts.uri.path()) {
        Ok(found) => found,
        Err(error) => {
            return Explained {
                route_key: None,
                authorizer: None,
                steps: Vec::new(),
                outcome: Err((error.into(), None)),
            };
        }
    };
    let request_id = RequestIdGenerator::new(u64::from(std::process::id())).next_id();
    let client_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let received_at = SystemTime::now();
    let mut ctx = CallContext {
        request_id,
        trace_id: TraceId::for_request(&parts.headers, request_id, received_at),
        client_addr,
        tls: false,
        // No connection: the request is explained as a plain-HTTP client on the default port
        // would send it.
        local_port: 80,
        route_key: Arc::clone(&plan.key),
        params,
        received_at,
        auth: AuthContext::None,
    };
    let mut record = AccessRecord::start(
        request_id,
        ctx.received_at,
        client_addr.ip(),
        &parts.method,
        &parts.uri,
        "HTTP/1.1",
    );
    let mut trace = Trace::recording(siblings);
    let decided = authorize::request(
        &plan.access,
        plan.rules.as_deref(),
        &mut parts,
        &mut ctx,
        &mut record,
        &mut trace,
    )
    .await;
    let authorizer = match &plan.access {
        Access::Authorizer(access) => Some(Arc::clone(&access.name)),
        Access::Public => None,
    };
    Explained {
        route_key: Some(Arc::clone(&plan.key)),
        authorizer,
        steps: trace.into_steps(),
        outcome: match decided {
            Ok(()) => Ok(ctx.auth),
            Err(denial) => Err((Rejection::from(&denial), Some(denial))),
        },
    }
}
