//! The `pullsync` binary: install the TLS crypto provider, parse flags, start logging, run.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // One provider for every rustls user in the process (kube, later Vault): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // git2's first use probes OpenSSL certificate paths with setenv: do it before any thread
    // exists (any libgit2 entry point runs that init; this one opens nothing).
    let _ = git2::Repository::open_bare("/nonexistent/pullsync-git2-init");
    let cli = pullsync::cli::Cli::parse();
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
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
