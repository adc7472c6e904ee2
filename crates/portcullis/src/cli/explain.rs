//! `portcullis explain`: the full decision of a route's authorizer for one token.

use std::process::ExitCode;

use super::{EXIT_CONFIG, EXIT_RUNTIME, load_config};

/// Exit status when the token would be denied.
const EXIT_DENIED: u8 = 3;

pub(crate) fn run(
    source: &super::SourceArgs,
    route_key: String,
    token: Option<String>,
    path: Option<String>,
    headers: &[String],
    cached_from: Option<String>,
) -> ExitCode {
    let config = match load_config(source) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let mut parsed = Vec::with_capacity(headers.len());
    for header in headers {
        match header.split_once(':') {
            Some((name, value)) => parsed.push((name.trim().to_owned(), value.trim().to_owned())),
            None => {
                eprintln!("error: --header {header:?} is not `name: value`");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    let request = portcullis_app::ExplainRequest { route_key, token, path, headers: parsed, cached_from };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(portcullis_app::explain(&config, &request)) {
        Ok(explanation) => {
            print!("{}", explanation.text);
            if explanation.allowed { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DENIED) }
        }
        Err(portcullis_app::ExplainError::Compile(portcullis_app::CompileError::Resource(error))) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_RUNTIME)
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
