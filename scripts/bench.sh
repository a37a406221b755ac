#!/usr/bin/env bash
# Performance figures (numbers, not pass/fail): offline rendering, a 1,000-namespace cluster
# sync, the daemon at 100 / 1,000 / 10,000 namespaces with OpenBao, and an exchanged ECR
# token's renewals at 1,000 / 10,000 namespaces against moto, and what the admission webhook
# adds to pod creates at 100/s.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-tools.sh
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH
cargo bench --locked --bench render
cargo bench --locked --bench cluster
cargo bench --locked --bench daemon
cargo bench --locked --bench exchanged
cargo bench --locked --bench admission
cargo bench --locked --bench provider
cargo bench --locked --bench big_repos
