# syntax=docker/dockerfile:1
#
# The aftersales image: the `aftersales` binary on Debian slim, as a non-root numeric user.
#
#   docker build -t aftersales:0.1.0 .
#   docker run --rm -p 50051:50051 aftersales:0.1.0          # SQLite in the container
#   docker run --rm -e AFTERSALES_DATABASE_URL=postgres://… aftersales:0.1.0 migrate
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts. The Helm chart in
# helm/aftersales runs this image (see helm/README.md).

# The toolchain CI builds and tests with. The locked dependencies need at least 1.89
# (uuid 1.29 declares rust-version 1.89; tonic 0.14 needs 1.88).
ARG RUST_VERSION=1.95
# Builder and runtime share the Debian release, so the binary's glibc matches.
ARG DEBIAN_RELEASE=bookworm

# --- build -------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src

# Everything the build reads: the workspace, protos (compiled by protox in pure Rust: no protoc),
# migrations (embedded by sqlx::migrate!), policies and data files (include_str!). SQLite is
# bundled by sqlx and compiled with the image's C compiler.
COPY . .

# Dependencies are cached, not re-downloaded or rebuilt on every change: the crates.io index
# and downloads live in one cache mount, the target directory in another, so a rebuild after a
# source change compiles only the workspace crates that changed. --locked builds exactly
# Cargo.lock.
RUN --mount=type=cache,id=aftersales-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=aftersales-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=aftersales-target,target=/src/target,sharing=locked \
    cargo build --release --locked --bin aftersales \
    && install -D -m 0755 target/release/aftersales /out/aftersales

# --- runtime -----------------------------------------------------------------------------------
# Debian slim rather than distroless: the chart's preStop hook runs /bin/sleep (on Kubernetes
# 1.30+ a distroless/cc image works too, with lifecycle.preStopMode=sleepAction). The binary
# links only glibc, libm and libgcc_s, which the base image has; it needs no CA bundle (no TLS
# client is compiled in).
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

ARG UID=65532
RUN groupadd --system --gid "${UID}" aftersales \
    && useradd --system --uid "${UID}" --gid "${UID}" --no-create-home \
        --home-dir /var/lib/aftersales --shell /usr/sbin/nologin aftersales \
    && install -d -o "${UID}" -g "${UID}" -m 0750 /var/lib/aftersales

COPY --from=builder /out/aftersales /usr/local/bin/aftersales

# A numeric user, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER ${UID}:${UID}
WORKDIR /var/lib/aftersales

# In a container the server must listen on every interface (the binary's default is
# 127.0.0.1). Without a database URL the image uses SQLite in /var/lib/aftersales (mount a
# volume there to keep it); the Helm chart sets PostgreSQL from a Secret.
ENV AFTERSALES_LISTEN=0.0.0.0:50051 \
    AFTERSALES_DATABASE_URL=sqlite:///var/lib/aftersales/aftersales.db \
    AFTERSALES_LOG_FORMAT=json

EXPOSE 50051
# SIGTERM drains: in-flight calls get AFTERSALES_DRAIN_SECONDS (25) to finish.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/aftersales"]
CMD ["serve"]
