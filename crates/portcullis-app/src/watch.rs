//! `watch: true` on a function: when a file under its directory changes, its instances are
//! recycled so the next request runs the new code (the local development loop). The registry
//! starts and stops one watcher per watched function as configurations load.
//!
//! Polling, not inotify: a scan of modification times every 500 ms works the same with every
//! editor's save strategy (rename, truncate, atomic replace) and on every file system, and costs
//! nothing on the request path. The scan skips `node_modules`, `.git` and the state directory and
//! stops after 20,000 entries, so a huge tree cannot make it expensive.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use portcullis_functions::Invoker;

const INTERVAL: Duration = Duration::from_millis(500);
const MAX_ENTRIES: usize = 20_000;

/// Watch `dir` (until the task is aborted); recycle `invoker` whenever its contents change from
/// `last`.
pub(crate) async fn function_dir(dir: PathBuf, invoker: Invoker, mut last: Fingerprint) {
    loop {
        tokio::time::sleep(INTERVAL).await;
        let scan_dir = dir.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || fingerprint(&scan_dir)).await else { return };
        if now != last {
            tracing::info!(function = invoker.name(), dir = %dir.display(), "code changed; recycling instances");
            invoker.recycle();
            last = now;
        }
    }
}

/// (entries seen, newest modification time, sum of sizes): changes when a file is added,
/// removed, rewritten or touched.
pub(crate) type Fingerprint = (usize, Option<SystemTime>, u64);

/// The fingerprint of `dir`'s contents (blocking: a directory walk).
pub(crate) fn fingerprint(dir: &Path) -> Fingerprint {
    let mut stack = vec![dir.to_path_buf()];
    let (mut entries, mut newest, mut bytes) = (0usize, None::<SystemTime>, 0u64);
    while let Some(current) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&current) else { continue };
        for entry in read.flatten() {
            entries += 1;
            if entries > MAX_ENTRIES {
                return (entries, newest, bytes);
            }
            let name = entry.file_name();
            if matches!(name.to_str(), Some("node_modules" | ".git" | ".portcullis" | "__pycache__")) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if let Ok(modified) = meta.modified() {
                newest = newest.max(Some(modified));
            }
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                bytes = bytes.wrapping_add(meta.len());
            }
        }
    }
    (entries, newest, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_changes_on_edit_add_and_remove_but_not_in_node_modules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.js"), "1").unwrap();
        let first = fingerprint(dir.path());
        std::fs::write(dir.path().join("a.js"), "22").unwrap();
        let edited = fingerprint(dir.path());
        assert_ne!(first, edited);
        std::fs::create_dir(dir.path().join("node_modules")).unwrap();
        let with_modules_dir = fingerprint(dir.path());
        std::fs::write(dir.path().join("node_modules").join("x.js"), "ignored").unwrap();
        assert_eq!(with_modules_dir.2, fingerprint(dir.path()).2, "node_modules content is not scanned");
        std::fs::write(dir.path().join("b.js"), "3").unwrap();
        let added = fingerprint(dir.path());
        assert_ne!(with_modules_dir, added);
        std::fs::remove_file(dir.path().join("b.js")).unwrap();
        assert_ne!(added, fingerprint(dir.path()));
    }
}
