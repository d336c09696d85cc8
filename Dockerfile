# syntax=docker/dockerfile:1
# The dssctl image: a static-enough release binary on a distroless base, run as a non-root
# user, `dssctl` as the entry point (`docker run IMAGE plan ...`, `... watch /git`).
# Build:  docker build -t dssctl:0.1.0 .
# See docs/deploy.md for the Kubernetes manifests that run `dssctl watch` from this image.

ARG RUST_VERSION=1.89

# --- builder: compile the release binary from the locked dependency set ---------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
# rusqlite (bundled SQLite) and ring compile C code. The compiler comes with the base image's
# Debian release; pin the base image by digest for a reproducible build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
# Dependencies first, in their own layer: a source change does not rebuild them. The manifest
# declares the `scale` bench, so its file must exist for Cargo to read the manifest.
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin dssctl \
    && rm -rf src
COPY src ./src
# The real sources are newer than the placeholder build: touch them so Cargo rebuilds dssctl.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin dssctl \
    && cp target/release/dssctl /usr/local/bin/dssctl \
    && /usr/local/bin/dssctl --version

# --- runtime: glibc, CA certificates, no shell, user 65532 ---------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
# Where the sources live, for the image's provenance: `--build-arg SOURCE_URL=https://...`.
ARG SOURCE_URL=""
ARG REVISION=""
LABEL org.opencontainers.image.title="dssctl" \
      org.opencontainers.image.description="Manage Dataiku DSS instances from YAML manifests in Git: validate, plan, apply, watch." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=builder /usr/local/bin/dssctl /usr/local/bin/dssctl
# Backups before a project deletion go to .dssctl/backups under the working directory: a
# directory the non-root user owns (mount a volume there to keep them).
WORKDIR /home/nonroot
USER 65532:65532
# The watch daemon's HTTP port (health, readiness, metrics) when started with --listen 0.0.0.0:9898.
EXPOSE 9898
ENTRYPOINT ["/usr/local/bin/dssctl"]
CMD ["--help"]
