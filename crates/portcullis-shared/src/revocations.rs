//! Revocations across replicas: a Redis hash holds every entry (field = what is revoked,
//! value = the entry as JSON), and a channel announces each new one. Every replica subscribes,
//! and reads the whole hash at start, after every reconnect and every `resync`, so one that
//! missed a message or restarted catches up. Entries past their `until` are dropped from the hash
//! by whoever reads them. A revocation made while Redis could not be written waits in the
//! process's queue; each full read first publishes what waits, and keeps what still waits in the
//! list, so Redis coming back neither loses it nor drops it from this replica.

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
        // Two commands, not one transaction: in a cluster the hash and the channel live in
        // different slots. A stored entry whose announcement is lost still reaches every
        // replica with the next full read.
        conn.hset::<_, _, _, ()>(hash_key(state), field(&revocation.revoked), &json).await?;
        conn.publish::<_, _, ()>(channel(state), &json).await
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

/// Publishes the revocations queued while Redis could not be written, oldest first; stops at
/// the first that fails (Redis is still away).
async fn publish_queued(state: &SharedState) {
    loop {
        let Some(next) = state.unpublished().first().cloned() else { return };
        if publish(state, &next).await.is_err() {
            return;
        }
        let mut queued = state.unpublished();
        if let Some(at) = queued.iter().position(|entry| entry == &next) {
            queued.remove(at);
        }
    }
}

/// Replaces `list` with what Redis holds, plus what this replica revoked and could not publish
/// yet; first publishes the queued ones if Redis answers now.
async fn refresh(state: &SharedState, list: &RevocationList, within: Duration) {
    let read = async {
        publish_queued(state).await;
        read_all(state).await
    };
    match tokio::time::timeout(within, read).await {
        Ok(Ok(mut all)) => {
            all.extend(state.unpublished().iter().cloned());
            list.replace(all, now_secs());
        }
        Ok(Err(error)) => state.health.failed("revocations", &error),
        Err(_) => state.health.failed("revocations", &"no answer within the resync period"),
    }
}

/// The subscription and resync loop (one per process).
pub(crate) async fn sync(state: Arc<SharedState>, list: Arc<RevocationList>, resync: Duration) {
    loop {
        // A full read first: whatever was revoked while this replica was away.
        refresh(&state, &list, resync).await;
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
        refresh(&state, &list, resync).await;
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
                _ = tick.tick() => refresh(&state, &list, resync).await,
            }
        }
        // The subscription ended (Redis went away): reconnect after a pause.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
