//! The `pullsync` binary: install the TLS crypto provider, parse flags, start logging, run.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // One provider for every rustls user in the process (kube, later Vault): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = pullsync::cli::Cli::parse();
    pullsync::telemetry::init(cli.log_format, &cli.log_level);
    match pullsync::app::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
