//! `functions:` -> the runtime settings of each function.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use portcullis_config::{Config, FunctionConfig, FunctionRuntime};
use portcullis_functions::{FunctionKind, FunctionSettings, FunctionsOptions};

/// Config -> runtime settings for one function.
pub(crate) fn settings(config: &Config, name: &str, f: &FunctionConfig) -> FunctionSettings {
    let kind = match &f.runtime {
        FunctionRuntime::Nodejs { handler } => FunctionKind::Node { handler: handler.clone() },
        FunctionRuntime::Python { handler } => FunctionKind::Python { handler: handler.clone() },
        FunctionRuntime::Provided { command, args, .. } => {
            let mut full = vec![command.display().to_string()];
            full.extend(args.iter().cloned());
            FunctionKind::Provided { command: full }
        }
        FunctionRuntime::Remote { invoke_url } => FunctionKind::Remote { invoke_url: invoke_url.clone() },
    };
    let mut settings = FunctionSettings::new(name, kind, f.dir.clone());
    settings.timeout = f.timeout;
    settings.concurrency = NonZeroUsize::new(f.concurrency.get() as usize).unwrap_or(NonZeroUsize::MIN);
    settings.environment = f.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // `handler:` on a `provided` function reaches the program as Lambda's `_HANDLER`, which the
    // functions crate sets itself only for its own bootstraps.
    if let FunctionRuntime::Provided { handler: Some(handler), .. } = &f.runtime {
        settings.environment.push(("_HANDLER".to_owned(), handler.clone()));
    }
    settings.memory_mb = f.memory.get();
    settings.idle_timeout = f.idle_timeout;
    settings.prewarm = f.prewarm as usize;
    settings.max_invocations = f.max_invocations;
    settings.region = config.region.clone();
    settings
}

/// Where function bootstraps are written (absolute, because instances run in their own `dir`
/// and must find the bootstrap whatever the gateway's working directory and however the config
/// path was given), and the account in function ARNs.
pub(crate) fn options(config: &Config) -> FunctionsOptions {
    let dir = config.state_dir.join("functions");
    FunctionsOptions {
        state_dir: std::path::absolute(&dir).unwrap_or(dir),
        account_id: config.account_id.clone(),
    }
}

/// The `iss` of the development issuer: derived from the admin address *as configured*, so that
/// `portcullis token` (another process reading the same file) mints what the gateway accepts.
pub(crate) fn dev_issuer(config: &Config) -> (PathBuf, String) {
    (config.state_dir.clone(), format!("http://{}/dev", config.admin))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use portcullis_functions::FunctionKind;

    use super::settings;

    /// Every `functions:` setting reaches the runtime settings, the non-AWS ones included.
    #[test]
    fn function_config_maps_onto_runtime_settings() {
        let yaml = "functions:
  f: {runtime: nodejs, handler: app.handler, dir: fn, timeout: 7s, concurrency: 3, prewarm: 1,
      memory: 256, idle_timeout: 2m, max_invocations: 1000, environment: {TABLE: orders}}
  n: {runtime: provided, command: [./bootstrap, --fast], handler: main.handler}
  d: {runtime: python, handler: app.handler}
region: eu-west-1
";
        let config =
            portcullis_config::from_str_in(yaml, "t.yaml", std::path::Path::new("/srv")).expect("valid");
        let settings = |name: &str| settings(&config, name, &config.functions[name]);

        let f = settings("f");
        assert!(matches!(&f.kind, FunctionKind::Node { handler } if handler == "app.handler"));
        assert_eq!(f.dir, std::path::Path::new("/srv/fn"));
        assert_eq!((f.timeout, f.concurrency.get(), f.prewarm), (Duration::from_secs(7), 3, 1));
        assert_eq!((f.memory_mb, f.idle_timeout), (256, Duration::from_secs(120)));
        assert_eq!(f.max_invocations.map(|n| n.get()), Some(1000));
        assert_eq!(f.environment, vec![("TABLE".to_owned(), "orders".to_owned())]);
        assert_eq!(f.region, "eu-west-1");

        let n = settings("n");
        let FunctionKind::Provided { command } = &n.kind else { panic!("{:?}", n.kind) };
        assert_eq!(
            command,
            &["/srv/./bootstrap", "--fast"],
            "the command resolves against the config's directory"
        );
        assert_eq!(n.environment, vec![("_HANDLER".to_owned(), "main.handler".to_owned())]);

        let d = settings("d");
        assert_eq!(d.max_invocations, None, "reused until idle by default");
        assert!(matches!(&d.kind, FunctionKind::Python { handler } if handler == "app.handler"));
    }
}
