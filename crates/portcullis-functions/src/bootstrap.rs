//! Our own runtime clients, embedded so users need only `node` or `python3` installed.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const NODE: &str = include_str!("../bootstrap/node/bootstrap.mjs");
const PYTHON: &str = include_str!("../bootstrap/python/bootstrap.py");

/// Paths of the written bootstraps, and the directory of their Runtime API sockets.
#[derive(Debug, Clone)]
pub(crate) struct Bootstraps {
    pub(crate) node: PathBuf,
    pub(crate) python: PathBuf,
    /// `state_dir/sockets`, mode 0700 (see `runtime_api::LocalListener`).
    pub(crate) sockets: PathBuf,
}

/// Writes both bootstraps under `state_dir/bootstrap/` (only when the content differs, so
/// running instances never see a half-written file) and creates the sockets directory.
pub(crate) fn write(state_dir: &Path) -> io::Result<Bootstraps> {
    let node = state_dir.join("bootstrap/node/bootstrap.mjs");
    let python = state_dir.join("bootstrap/python/bootstrap.py");
    for (path, content) in [(&node, NODE), (&python, PYTHON)] {
        if std::fs::read_to_string(path).ok().as_deref() == Some(content) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, content)?;
        std::fs::rename(&tmp, path)?;
    }
    let sockets = state_dir.join("sockets");
    std::fs::create_dir_all(&sockets)?;
    std::fs::set_permissions(&sockets, std::fs::Permissions::from_mode(0o700))?;
    Ok(Bootstraps { node, python, sockets })
}
