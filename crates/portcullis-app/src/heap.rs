//! Where a config load's memory goes, and how it is given back to the OS.
//!
//! Loading a config is the process's one burst of allocation: the positioned YAML tree, the
//! decoded `Config` and the compiled snapshot's growing vectors peak at several times what the
//! snapshot keeps (about 28 MB of heap for 10,010 routes, against 6 MB kept). glibc keeps freed
//! pages resident unless they sit at the very top of an arena, and raises its trim threshold
//! after a large block is freed, so without help a gateway that loaded a large config idles at
//! its loading peak. Two things keep the idle figure near what is live:
//! - [`load_config`] (and [`load_config_async`]) parse on a short-lived thread, so the parse tree and the decoded config
//!   sit in that thread's arena, apart from the snapshot compiled from them on the caller's;
//!   once the config is dropped the whole arena is free and glibc shrinks it;
//! - [`release_free_pages`] (`malloc_trim(0)`) returns every whole free page of every arena.
//!
//! The compiled snapshot must not share allocations with the config (an `Arc` cloned across
//! would pin a page of the loader's arena): the route table copies the names of the keys it is
//! given (`portcullis-route`), and everything else `compile` keeps is built afresh.
//! Measured on the 10,010-route benchmark config (docs/benchmarks.md, idle memory).

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

/// Returns the heap's whole free pages to the OS.
///
/// Call at a quiet point (after a load, not per request): glibc walks every arena under its
/// lock. A no-op off glibc (musl, other systems), whose allocators have no equivalent call.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn release_free_pages() {
    // SAFETY: `malloc_trim` takes a plain integer, touches only the allocator's own state
    // under the allocator's locks (MT-Safe per its manual page), and frees no live block.
    // Its result (whether any memory was released) changes nothing for the caller.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A no-op where the allocator is not glibc's.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_free_pages() {}
