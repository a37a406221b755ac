#!/usr/bin/env bash
# The test command (README and CI): install missing test tools, then format check, clippy with
# warnings as errors, the one-crypto-provider check, and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-test-tools.sh
# Where pip put `bao` (OpenBao), for the Vault tests.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

# kube uses ring; a second rustls provider (aws-lc-rs) in the tree makes client set-up panic.
if cargo tree --locked -i aws-lc-rs >/dev/null 2>&1; then
  echo "error: aws-lc-rs is in the dependency tree; keep ring as the only rustls provider" >&2
  exit 1
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
  cargo test --locked --doc
else
  cargo test --locked --no-fail-fast
fi
