#!/usr/bin/env bash
# The test command: installs what the tests need (Debian packages only), then runs every test
# against real parts (PostgreSQL, Chromium + chromedriver, the stand-ins under tests/).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo test --locked --no-fail-fast "$@"
