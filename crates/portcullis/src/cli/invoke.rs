//! `portcullis invoke`: run a function once, outside the gateway.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{EXIT_CONFIG, EXIT_RUNTIME, load_config};

pub(crate) fn run(source: &super::SourceArgs, function: &str, event: Option<PathBuf>) -> ExitCode {
    let config = match load_config(source) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let event = match event {
        None => b"{}".to_vec(),
        Some(path) if path.as_os_str() == "-" => {
            let mut buffer = Vec::new();
            if let Err(error) = std::io::stdin().read_to_end(&mut buffer) {
                eprintln!("error: reading the event from standard input: {error}");
                return ExitCode::from(EXIT_CONFIG);
            }
            buffer
        }
        Some(path) => match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) => {
                eprintln!("error: {}: {error}", path.display());
                return ExitCode::from(EXIT_CONFIG);
            }
        },
    };
    if let Err(error) = serde_json::from_slice::<serde_json::Value>(&event) {
        eprintln!("error: the event is not JSON: {error}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(portcullis_app::dev::invoke_once(&config, function, bytes::Bytes::from(event))) {
        Ok(output) => {
            println!("{}", String::from_utf8_lossy(&output));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
