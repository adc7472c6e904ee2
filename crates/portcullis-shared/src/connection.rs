//! The connection to Redis: a single node (the `redis` crate's connection manager, which
//! reconnects by itself), a cluster (its cluster connection), or the master a Sentinel names
//! (resolved again after a failure, so a failover is followed).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Client, Cmd, Pipeline, RedisError, RedisFuture, Value};
use tokio::sync::Mutex;

use crate::SharedError;

/// A connection to send commands on; cheap to clone, safe to use concurrently.
#[derive(Clone)]
pub(crate) enum Conn {
    Manager(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Manager(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Manager(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

enum Kind {
    Single { client: Box<Client>, manager: ConnectionManager },
    Cluster { client: Box<ClusterClient>, first: Box<Client> },
    Sentinel { sentinel: Box<Mutex<SentinelClient>> },
}

/// Where commands go.
pub(crate) struct Store {
    kind: Kind,
    timeout: Duration,
    /// The connection in use, for a cluster or a Sentinel master (connected on first use).
    current: ArcSwapOption<Conn>,
    /// When a connection was last attempted (milliseconds since `epoch`), so a Redis that is
    /// down costs one attempt a second, not one per request.
    last_attempt: AtomicU64,
    epoch: Instant,
    connecting: Mutex<()>,
}

/// Least time between two connection attempts.
const RETRY: Duration = Duration::from_secs(1);

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout.max(Duration::from_millis(250))))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(RETRY)
}

impl Store {
    pub(crate) fn new(urls: &[String], timeout: Duration) -> Result<Self, SharedError> {
        let url_error = |e: RedisError| SharedError::Url(e.to_string());
        let kind = match urls {
            [] => return Err(SharedError::Url("no URL".into())),
            [one] if one.starts_with("redis+sentinel://") || one.starts_with("rediss+sentinel://") => {
                let (nodes, service, db) = sentinel_parts(one)?;
                // The master's own connection: the database of the URL; credentials, if any, are
                // the Sentinel nodes'.
                let node = SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(redis::RedisConnectionInfo::default().set_db(db));
                let sentinel = SentinelClient::build(nodes, service, Some(node), SentinelServerType::Master)
                    .map_err(url_error)?;
                Kind::Sentinel { sentinel: Box::new(Mutex::new(sentinel)) }
            }
            [one] => {
                let client = Client::open(one.as_str()).map_err(url_error)?;
                let manager =
                    client.get_connection_manager_lazy(manager_config(timeout)).map_err(url_error)?;
                Kind::Single { client: Box::new(client), manager }
            }
            several => {
                let client = ClusterClient::builder(several.iter().map(String::as_str))
                    .connection_timeout(timeout.max(Duration::from_millis(250)))
                    .response_timeout(timeout)
                    .build()
                    .map_err(url_error)?;
                let first = Client::open(several[0].as_str()).map_err(url_error)?;
                Kind::Cluster { client: Box::new(client), first: Box::new(first) }
            }
        };
        Ok(Store {
            kind,
            timeout,
            current: ArcSwapOption::empty(),
            last_attempt: AtomicU64::new(0),
            epoch: Instant::now(),
            connecting: Mutex::new(()),
        })
    }

    /// Whether commands go to a Redis Cluster (where one script touches one slot only).
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.kind, Kind::Cluster { .. })
    }

    /// A connection to send a command on, or an error when there is none now (and none was
    /// attempted within the last second).
    pub(crate) async fn connection(&self) -> Result<Conn, RedisError> {
        if let Kind::Single { manager, .. } = &self.kind {
            return Ok(Conn::Manager(manager.clone()));
        }
        if let Some(conn) = self.current.load_full() {
            return Ok((*conn).clone());
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(conn) = self.current.load_full() {
            return Ok((*conn).clone());
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = self.last_attempt.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < RETRY.as_millis() as u64 {
            return Err(RedisError::from((redis::ErrorKind::Io, "not connected; retrying shortly")));
        }
        self.last_attempt.store(now.max(1), Ordering::Relaxed);
        let connected =
            tokio::time::timeout(self.timeout.max(Duration::from_millis(250)), self.connect()).await;
        let conn = match connected {
            Ok(result) => result?,
            Err(_) => return Err(RedisError::from((redis::ErrorKind::Io, "connecting timed out"))),
        };
        self.current.store(Some(Arc::new(conn.clone())));
        Ok(conn)
    }

    async fn connect(&self) -> Result<Conn, RedisError> {
        match &self.kind {
            Kind::Single { manager, .. } => Ok(Conn::Manager(manager.clone())),
            Kind::Cluster { client, .. } => Ok(Conn::Cluster(client.get_async_connection().await?)),
            Kind::Sentinel { sentinel } => {
                let client = sentinel.lock().await.async_get_client().await?;
                Ok(Conn::Manager(
                    client.get_connection_manager_with_config(manager_config(self.timeout)).await?,
                ))
            }
        }
    }

    /// After a failed command: a Sentinel master is resolved again on the next attempt (it may
    /// have failed over); the other kinds reconnect by themselves.
    pub(crate) fn failed(&self, error: &RedisError) {
        if matches!(self.kind, Kind::Sentinel { .. })
            && (error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal())
        {
            self.current.store(None);
        }
    }

    /// A client for a subscription connection: the node itself, the first node of a cluster
    /// (a cluster delivers a published message to every node), or the current Sentinel master.
    pub(crate) async fn subscriber(&self) -> Result<Client, RedisError> {
        match &self.kind {
            Kind::Single { client, .. } => Ok((**client).clone()),
            Kind::Cluster { first, .. } => Ok((**first).clone()),
            Kind::Sentinel { sentinel } => sentinel.lock().await.async_get_client().await,
        }
    }
}

/// `redis+sentinel://[user:pass@]host:port[,host:port...]/service[/db]` as (Sentinel node URLs,
/// service name, database).
fn sentinel_parts(url: &str) -> Result<(Vec<String>, String, i64), SharedError> {
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| SharedError::Url(format!("{url:?} has no scheme")))?;
    let node_scheme = if scheme.starts_with("rediss") { "rediss" } else { "redis" };
    let (authority, path) = rest.split_once('/').ok_or_else(|| {
        SharedError::Url(format!(
            "{url:?}: a Sentinel URL names the service: redis+sentinel://host:26379/SERVICE"
        ))
    })?;
    let (credentials, hosts) = match authority.rsplit_once('@') {
        Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
        None => (String::new(), authority),
    };
    let nodes: Vec<String> =
        hosts.split(',').map(|host| format!("{node_scheme}://{credentials}{host}")).collect();
    let mut segments = path.split('/');
    let service = segments.next().filter(|s| !s.is_empty()).ok_or_else(|| {
        SharedError::Url(format!(
            "{url:?}: a Sentinel URL names the service: redis+sentinel://host:26379/SERVICE"
        ))
    })?;
    let db = match segments.next() {
        Some(db) if !db.is_empty() => {
            db.parse().map_err(|_| SharedError::Url(format!("{url:?}: {db:?} is not a database number")))?
        }
        _ => 0,
    };
    Ok((nodes, service.to_owned(), db))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls_name_their_nodes_service_and_database() {
        let (nodes, service, db) = sentinel_parts("redis+sentinel://:pw@a:26379,b:26380/mymaster/2").unwrap();
        assert_eq!(nodes, ["redis://:pw@a:26379", "redis://:pw@b:26380"]);
        assert_eq!((service.as_str(), db), ("mymaster", 2));
        assert!(sentinel_parts("redis+sentinel://a:26379").is_err());
    }
}
