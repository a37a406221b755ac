# pullsync container image: the release binary on a minimal, non-root base.
#   docker build -t pullsync:0.1.0 .
# The binary needs nothing writable but what is mounted (the chart gives it an emptyDir for
# the Git cache and /tmp) and runs as any non-root uid (tests/image.rs checks both).

FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
# git2 vendors OpenSSL and libgit2: perl and make build them.
RUN apt-get update && apt-get install -y --no-install-recommends perl make && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --bin pullsync && strip target/release/pullsync

# glibc, CA certificates, no shell, uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="pullsync" \
      org.opencontainers.image.description="GitOps secret sync for GPU platforms: image pull and credential Secrets from Git specs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/example/pullsync"
COPY --from=build /src/target/release/pullsync /usr/local/bin/pullsync
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/pullsync"]
CMD ["run", "--help"]
