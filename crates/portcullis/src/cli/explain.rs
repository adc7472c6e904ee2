//! `portcullis explain`: the full decision of a route's authorizer for one token.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{EXIT_CONFIG, EXIT_RUNTIME, load_config};

/// Exit status when the token would be denied.
const EXIT_DENIED: u8 = 3;

pub(crate) fn run(config: Option<PathBuf>, route: &str, token: &str) -> ExitCode {
    let config = match load_config(config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let token = token.strip_prefix("Bearer ").unwrap_or(token);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(portcullis_app::explain(&config, route, token)) {
        Ok((text, allowed)) => {
            print!("{text}");
            if allowed { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DENIED) }
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
