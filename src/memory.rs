//! Handing memory back after a burst (process-wide). Loading a large spec repository parses
//! every file on every core: glibc keeps each thread's freed parse buffers in that thread's
//! arena, between the live objects, so the process stayed ~110 MiB above its heap after a
//! 100,000-document load (#24: 283 MiB resident for a 173 MiB peak heap). The binary installs
//! glibc's `malloc_trim` here (the library forbids `unsafe`); tests and other embedders run
//! without it.

use std::sync::OnceLock;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Install what returns freed heap pages to the kernel (once, at start).
pub fn set_release(release: fn()) {
    let _ = RELEASE.set(release);
}

/// Return freed heap pages to the kernel, where the binary said how.
pub fn release_free_pages() {
    if let Some(release) = RELEASE.get() {
        release();
    }
}
