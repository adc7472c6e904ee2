//! Integration tests: the real `portcullis` binary on ephemeral ports against real upstream
//! servers. One binary, one module per area.

mod harness;

mod abuse;
mod cli;
mod console;
mod definitions;
mod dev;
mod docs;
mod edge;
mod examples;
mod functions;
mod jwt;
mod lambda_authz;
mod lifecycle;
mod limits;
mod mapping;
mod powertools;
mod proxy;
mod request_threads;
mod routing;
mod rules;
mod shared;
