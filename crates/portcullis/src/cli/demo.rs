//! `portcullis demo-config`: print the embedded default configuration (and write its function's
//! handler, so the printed config runs as it is).

use std::process::ExitCode;

pub(crate) fn run() -> ExitCode {
    print!("{}", portcullis_config::DEMO_YAML);
    match portcullis_app::dev::prepare_demo(&portcullis_config::demo()) {
        Ok(Some(file)) => eprintln!("wrote {} (the demo's function)", file.display()),
        Ok(None) => {}
        Err(error) => eprintln!("warning: the demo's function could not be written: {error}"),
    }
    ExitCode::SUCCESS
}
