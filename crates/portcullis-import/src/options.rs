//! What an import may take from outside the definition: the stage, template parameters, the
//! environment (only through a lookup the caller provides), region and account.

use std::fmt;
use std::path::PathBuf;

use indexmap::IndexMap;

/// The native config's default region (`region:` in docs/config.md).
pub const DEFAULT_REGION: &str = "us-east-1";
/// The native config's default account id (`account_id:` in docs/config.md).
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Inputs an import may use besides the definition itself. `ImportOptions::default()` reads
/// nothing from the process: no environment, no stage, the native defaults for region and
/// account.
pub struct ImportOptions {
    /// `serverless --stage`: the stage `${opt:stage}` and `${sls:stage}` resolve to. Default:
    /// `provider.stage`, else `dev`, as the Serverless Framework does.
    pub stage: Option<String>,
    /// `AWS::Region`, `${aws:region}`, `${opt:region}`; also written as `region:` when set.
    /// Default [`DEFAULT_REGION`] (or serverless `provider.region`).
    pub region: Option<String>,
    /// `AWS::AccountId`, `${aws:accountId}`; written as `account_id:` when set. Default
    /// [`DEFAULT_ACCOUNT_ID`].
    pub account_id: Option<String>,
    /// SAM template parameter values (`sam --parameter-overrides`), winning over `Default`;
    /// serverless `${param:NAME}` values, winning over `params:` in the file.
    pub parameters: IndexMap<String, String>,
    /// Which `AWS::Serverless::HttpApi` of a SAM template to import when it has several (its
    /// logical id; `ServerlessHttpApi` is the implicit one). Default: the only one, else the
    /// first explicit one (events of the others are reported).
    pub api: Option<String>,
    /// Directory that relative paths in the output (function `dir`) are relative to; what
    /// [`Imported::base_dir`](crate::Imported::base_dir) reports. [`import_file`](crate::import_file)
    /// sets it to the definition's directory. Default `.`.
    pub base_dir: PathBuf,
    env: Option<EnvLookup>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            stage: None,
            region: None,
            account_id: None,
            parameters: IndexMap::new(),
            api: None,
            base_dir: PathBuf::from("."),
            env: None,
        }
    }
}

impl fmt::Debug for ImportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportOptions")
            .field("stage", &self.stage)
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("parameters", &self.parameters)
            .field("api", &self.api)
            .field("base_dir", &self.base_dir)
            .field("env", &self.env.as_ref().map(|_| "<lookup>"))
            .finish()
    }
}

impl ImportOptions {
    /// Sets how `${env:NAME}` (serverless) is looked up. Without one, every environment
    /// variable counts as unset and the fallback applies. The library never reads the
    /// process environment itself: pass `|name| std::env::var(name).ok()` for that.
    pub fn with_env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Some(Box::new(lookup));
        self
    }

    /// An environment variable through the lookup given to [`ImportOptions::with_env`].
    pub(crate) fn env(&self, name: &str) -> Option<String> {
        self.env.as_ref().and_then(|lookup| lookup(name))
    }

    pub(crate) fn region(&self) -> &str {
        self.region.as_deref().unwrap_or(DEFAULT_REGION)
    }

    pub(crate) fn account_id(&self) -> &str {
        self.account_id.as_deref().unwrap_or(DEFAULT_ACCOUNT_ID)
    }
}
