//! Loading a config file: parsed on a short-lived thread of its own, and never able to take
//! the process down.
//!
//! The thread keeps the parse tree and the decoded config in that thread's allocator arena,
//! apart from the snapshot compiled from them on the caller's, so that once the config is
//! dropped the whole arena is free and can be returned ([`crate::heap`]). A panic in the parser
//! comes back as an error: a reload keeps the old config, whatever the file holds.

use std::path::Path;

use portcullis_config::{Config, ConfigErrors};

/// [`portcullis_config::load`] on a thread of its own (see the module docs), waiting for it;
/// on the calling thread if no thread can be started. For start-up, before the runtime runs.
///
/// # Errors
/// Those of [`portcullis_config::load`], and a panic of the loader as an error.
pub fn load_config(path: &Path) -> Result<Config, ConfigErrors> {
    match spawn_loader(path, |loaded| loaded) {
        Ok(loader) => loader.join().unwrap_or_else(|panic| Err(loader_crashed(path, &*panic))),
        Err(_) => portcullis_config::load(path),
    }
}

/// A panic in the parser or decoder, as an error: a bad file must never take the serving
/// process down (a reload keeps the old config), whatever is wrong with it.
fn loader_crashed(path: &Path, panic: &(dyn std::any::Any + Send)) -> ConfigErrors {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no detail".to_owned());
    tracing::error!(path = %path.display(), %detail, "the config loader crashed");
    ConfigErrors::single(portcullis_config::ConfigError::at(
        path.display().to_string(),
        portcullis_config::Span::default(),
        "",
        format!("the config could not be loaded (the loader crashed: {detail})"),
    ))
}

/// [`load_config`] for async callers (a reload): the loader thread hands its result over a
/// channel, so no runtime thread blocks while the file is parsed.
///
/// # Errors
/// Those of [`portcullis_config::load`].
pub async fn load_config_async(path: &Path) -> Result<Config, ConfigErrors> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let loader = match spawn_loader(path, move |loaded| {
        // The receiver is gone only if the reload itself was dropped: nothing is waiting.
        let _ = sender.send(loaded);
    }) {
        Ok(loader) => loader,
        Err(_) => return portcullis_config::load(path),
    };
    match receiver.await {
        Ok(loaded) => loaded,
        // The sender was dropped without sending: the parser panicked (the thread has ended, so
        // joining does not block). Reported as an error, as `load_config` does.
        Err(_) => match loader.join() {
            Err(panic) => Err(loader_crashed(path, &*panic)),
            Ok(()) => portcullis_config::load(path),
        },
    }
}

/// Starts the `config-load` thread: it parses `path` and hands the result to `deliver`.
fn spawn_loader<T: Send + 'static>(
    path: &Path,
    deliver: impl FnOnce(Result<Config, ConfigErrors>) -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    let owned = path.to_path_buf();
    std::thread::Builder::new()
        .name("config-load".into())
        // Nesting is bounded by the parser; the margin is for the decoder's recursion.
        .stack_size(8 * 1024 * 1024)
        .spawn(move || deliver(portcullis_config::load(&owned)))
}
