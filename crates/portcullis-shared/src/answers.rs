//! Lambda-authorizer answers in Redis, under the authorizer's name and a digest of the identity,
//! expiring after `result_ttl`. A store that cannot be asked is a miss (the authorizer invokes
//! its function, and caches the answer locally as always).

use std::time::Duration;

use bytes::Bytes;
use portcullis_authz::lambda::SharedAnswers;
use portcullis_core::BoxFuture;
use redis::AsyncCommands;

use crate::SharedState;

impl SharedAnswers for SharedState {
    fn get<'a>(&'a self, authorizer: &'a str, key: &'a str) -> BoxFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            if !self.health.should_try() {
                return None;
            }
            let key = self.key("authz", &format!("{authorizer}\u{0}{key}"));
            let call = async {
                let mut conn = self.store.connection().await?;
                conn.get::<_, Option<Vec<u8>>>(&key).await
            };
            match tokio::time::timeout(self.settings.timeout, call).await {
                Ok(Ok(found)) => {
                    self.health.succeeded();
                    found.map(Bytes::from)
                }
                Ok(Err(error)) => {
                    self.store.failed(&error);
                    self.health.failed("authorizer answers", &error);
                    None
                }
                Err(_) => {
                    self.health.failed("authorizer answers", &"no answer within the timeout");
                    None
                }
            }
        })
    }

    fn put<'a>(
        &'a self,
        authorizer: &'a str,
        key: &'a str,
        answer: Bytes,
        ttl: Duration,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if !self.health.should_try() {
                return;
            }
            let key = self.key("authz", &format!("{authorizer}\u{0}{key}"));
            let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let call = async {
                let mut conn = self.store.connection().await?;
                conn.pset_ex::<_, _, ()>(&key, answer.as_ref(), millis).await
            };
            match tokio::time::timeout(self.settings.timeout, call).await {
                Ok(Ok(())) => self.health.succeeded(),
                Ok(Err(error)) => {
                    self.store.failed(&error);
                    self.health.failed("authorizer answers", &error);
                }
                Err(_) => self.health.failed("authorizer answers", &"no answer within the timeout"),
            }
        })
    }
}
