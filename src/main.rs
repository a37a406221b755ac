//! The `pullsync` binary: install the TLS crypto provider, parse flags, start logging, run.
// One audited `unsafe` call (libgit2's process-wide timeouts), allowed where it is made.
#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // One provider for every rustls user in the process (kube, later Vault): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // git2's first use probes OpenSSL certificate paths with setenv: do it before any thread
    // exists (any libgit2 entry point runs that init; this one opens nothing).
    let _ = git2::Repository::open_bare("/nonexistent/pullsync-git2-init");
    let cli = pullsync::cli::Cli::parse();
    if let Some(timeout) = cli.git_timeout() {
        set_git_timeouts(timeout);
    }
    pullsync::memory::set_release(release_free_pages);
    pullsync::telemetry::init(cli.log_format, &cli.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(pullsync::app::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", describe(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// glibc's `malloc_trim(0)`: returns the free pages of every arena to the kernel (after a
/// large spec load; see `pullsync::memory`).
#[allow(unsafe_code)]
fn release_free_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim walks glibc's own arenas under their locks; it takes no pointer.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// libgit2's connect and read/write timeouts (its socket stream for HTTPS, libssh2's session
/// for SSH): without them a remote that accepts and never answers holds a fetch forever.
#[allow(unsafe_code)]
fn set_git_timeouts(timeout: std::time::Duration) {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX).max(1);
    // SAFETY: these set two global integers libgit2 reads when it opens a connection; no other
    // thread exists yet (the runtime starts below), so nothing reads them concurrently.
    unsafe {
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(ms);
        let _ = git2::opts::set_server_timeout_in_milliseconds(ms);
    }
}

/// An error and its causes, joined with ": ", leaving out a cause whose text the message
/// before it already carries (many of pullsync's messages name their cause in place).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    text
}
