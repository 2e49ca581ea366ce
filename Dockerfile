# syntax=docker/dockerfile:1
# ---- build ---------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src

# Dependency-caching layer: build all dependencies against stub targets so
# that source-only changes do not rebuild the dependency graph.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches tests/it \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > benches/pipeline.rs \
    && touch tests/it/main.rs \
    && cargo build --release --locked \
    && rm -rf src benches tests \
              target/release/tlsrptd target/release/deps/tlsrptd-* \
              target/release/deps/libtlsrptd-* target/release/.fingerprint/tlsrptd-*

COPY . .
RUN cargo build --release --locked --bin tlsrptd \
    && install -m 0755 target/release/tlsrptd /usr/local/bin/tlsrptd

# ---- runtime -------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --home-dir /var/lib/tlsrptd --shell /usr/sbin/nologin tlsrptd \
    && mkdir -p /var/lib/tlsrptd \
    && chown tlsrptd:tlsrptd /var/lib/tlsrptd

COPY --from=builder /usr/local/bin/tlsrptd /usr/local/bin/tlsrptd

ENV TLSRPT_DATABASE_URL=sqlite:///var/lib/tlsrptd/tlsrptd.db \
    TLSRPT_HTTP_LISTEN=0.0.0.0:8080 \
    TLSRPT_SMTP_LISTEN=0.0.0.0:2525

USER tlsrptd
WORKDIR /var/lib/tlsrptd
VOLUME ["/var/lib/tlsrptd"]
EXPOSE 8080 2525

ENTRYPOINT ["tlsrptd"]
CMD ["serve"]
