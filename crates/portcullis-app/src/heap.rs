//! Giving a config load's memory back to the OS.
//!
//! Loading a config is the process's one burst of allocation: the positioned YAML tree, the
//! decoded `Config` and the compiled snapshot's growing vectors peak at several times what the
//! snapshot keeps (about 28 MB of heap for 10,010 routes, against 6 MB kept). glibc keeps freed
//! pages resident unless they sit at the very top of an arena, and raises its trim threshold
//! after a large block is freed, so without help a gateway that loaded a large config idles at
//! its loading peak. Two things keep the idle figure near what is live:
//! - configs are parsed on a short-lived thread ([`crate::load`]), in an arena of their own;
//! - [`release_free_pages`] (`malloc_trim(0)`) returns every whole free page of every arena.
//!
//! The compiled snapshot must not share allocations with the config (an `Arc` cloned across
//! would pin a page of the loader's arena): the route table copies the names of the keys it is
//! given (`portcullis-route`), and everything else `compile` keeps is built afresh. Measured on
//! the 10,010-route benchmark config (ARCHITECTURE.md#performance-choices).

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
