# Two images from Debian packages only:
#   worker (default target): the ucm-scraper binary on slim Debian, non-root, no browser.
#   chromedriver: Debian's chromium + chromium-driver, listening for the worker.
# Built and run in CI by scripts/container-check.sh (podman; docs/container.md), which needs no
# image registry: it makes the two FROM images from Debian's archive when none answers.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ucm-scraper

FROM debian:bookworm-slim AS chromedriver
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium chromium-driver ca-certificates fonts-liberation tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 browser \
 && mkdir -p /downloads && chown browser /downloads
USER browser
EXPOSE 9515
# tini as PID 1: chromedriver alone there would ignore SIGTERM (a stop waited for the kill) and
# would never reap the Chromium processes it leaves behind.
ENTRYPOINT ["tini", "--"]
# --allowed-ips= with an empty list lets the worker container connect (docs/console.md).
CMD ["chromedriver", "--port=9515", "--allowed-ips=", "--allowed-origins=*"]

FROM debian:bookworm-slim AS worker
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 worker \
 && mkdir -p /downloads /storage /app && chown worker /downloads /storage /app
COPY --from=build /src/target/release/ucm-scraper /usr/local/bin/ucm-scraper
COPY selectors /app/selectors
WORKDIR /app
USER worker
# STORAGE_DIR is used only without Supabase; docker-compose.yml mounts a volume there.
ENV SELECTORS_DIR=/app/selectors DOWNLOAD_DIR=/downloads STORAGE_DIR=/storage METRICS_ADDR=0.0.0.0:9000
EXPOSE 9000
# /healthz fails only when passes stop finishing (a wrong tenant password does not restart us).
HEALTHCHECK --interval=60s --timeout=5s --start-period=120s \
  CMD curl -fsS http://127.0.0.1:9000/healthz || exit 1
ENTRYPOINT ["ucm-scraper"]
CMD ["run"]
