//! Shared test harness (never shipped): a recording upstream, a small HTTP client, a spawned
//! gateway process with its ready line parsed, a headless browser, and bounded waiting helpers.
//!
//! Everything binds 127.0.0.1 port 0 and owns its temp dir; nothing is global.

mod browser;
mod client;
mod gateway;
mod redis;
mod upstream;

pub use browser::Browser;
pub use client::{Reply, TestClient};
pub use gateway::{SpawnedGateway, wait_until};
pub use redis::RedisServer;
pub use upstream::{Behavior, Recorded, RecordingUpstream};
