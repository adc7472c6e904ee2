//! Revocations across replicas: a Redis hash holds every entry (field = what is revoked,
//! value = the entry as JSON), and a channel announces each new one. Every replica subscribes,
//! and reads the whole hash at start, after every reconnect and every `resync`, so one that
//! missed a message or restarted catches up. Entries past their `until` are dropped from the hash
//! by whoever reads them.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use portcullis_authz::{Revocation, RevocationList, Revoked};
use redis::AsyncCommands;

use crate::{SharedError, SharedState, now_secs};

fn hash_key(state: &SharedState) -> String {
    format!("{}revocations", state.settings.key_prefix)
}

fn channel(state: &SharedState) -> String {
    format!("{}revocations:new", state.settings.key_prefix)
}

fn field(revoked: &Revoked) -> String {
    match revoked {
        Revoked::Jti(jti) => format!("jti:{jti}"),
        Revoked::Sub(sub) => format!("sub:{sub}"),
    }
}

/// Stores `revocation` and announces it.
pub(crate) async fn publish(state: &SharedState, revocation: &Revocation) -> Result<(), SharedError> {
    let json = serde_json::to_string(revocation).map_err(|e| SharedError::Redis(e.to_string()))?;
    let call = async {
        let mut conn = state.store.connection().await?;
        redis::pipe()
            .atomic()
            .hset(hash_key(state), field(&revocation.revoked), &json)
            .ignore()
            .publish(channel(state), &json)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
    };
    match tokio::time::timeout(state.settings.timeout.max(Duration::from_secs(1)), call).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            state.store.failed(&error);
            Err(SharedError::Redis(error.to_string()))
        }
        Err(_) => Err(SharedError::Redis("no answer within the timeout".into())),
    }
}

/// Every entry in Redis (and the expired ones removed from it).
async fn read_all(state: &SharedState) -> Result<Vec<Revocation>, redis::RedisError> {
    let mut conn = state.store.connection().await?;
    let fields: Vec<(String, String)> = conn.hgetall(hash_key(state)).await?;
    let now = now_secs();
    let mut live = Vec::with_capacity(fields.len());
    let mut expired = Vec::new();
    for (name, json) in fields {
        match serde_json::from_str::<Revocation>(&json) {
            Ok(entry) if entry.until > now => live.push(entry),
            _ => expired.push(name),
        }
    }
    if !expired.is_empty() {
        let _: Result<(), _> = conn.hdel(hash_key(state), expired).await;
    }
    Ok(live)
}

/// The subscription and resync loop (one per process).
pub(crate) async fn sync(state: Arc<SharedState>, list: Arc<RevocationList>, resync: Duration) {
    loop {
        // A full read first: whatever was revoked while this replica was away.
        match tokio::time::timeout(resync, read_all(&state)).await {
            Ok(Ok(all)) => list.replace(all, now_secs()),
            Ok(Err(error)) => state.health.failed("revocations", &error),
            Err(_) => state.health.failed("revocations", &"no answer within the resync period"),
        }
        let subscribed = async {
            let client = state.store.subscriber().await?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel(&state)).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let mut pubsub = match tokio::time::timeout(resync, subscribed).await {
            Ok(Ok(pubsub)) => pubsub,
            _ => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // Read once more: an entry added between the read and the subscription is not missed.
        if let Ok(Ok(all)) = tokio::time::timeout(resync, read_all(&state)).await {
            list.replace(all, now_secs());
        }
        let mut messages = pubsub.on_message();
        let mut tick = tokio::time::interval(resync);
        tick.tick().await;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { break };
                    match message.get_payload::<String>().ok().and_then(|json| serde_json::from_str::<Revocation>(&json).ok()) {
                        Some(entry) => list.add(entry),
                        None => tracing::debug!("shared state: an unreadable revocation message was ignored"),
                    }
                }
                _ = tick.tick() => match tokio::time::timeout(resync, read_all(&state)).await {
                    Ok(Ok(all)) => list.replace(all, now_secs()),
                    Ok(Err(error)) => state.health.failed("revocations", &error),
                    Err(_) => state.health.failed("revocations", &"no answer within the resync period"),
                },
            }
        }
        // The subscription ended (Redis went away): reconnect after a pause.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
