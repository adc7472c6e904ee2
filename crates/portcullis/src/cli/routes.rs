//! `portcullis routes`: the route table of a config or a definition.

use std::process::ExitCode;

use super::{SourceArgs, load_config};

pub(crate) fn run(source: &SourceArgs) -> ExitCode {
    let config = match load_config(source) {
        Ok(config) => config,
        Err(code) => return code,
    };
    print!("{}", portcullis_app::compile::route_table(&config));
    ExitCode::SUCCESS
}
