#!/usr/bin/env bash
# Installs, from Debian's archive only, what the worker's tests and demo need on a fresh
# Debian/Ubuntu machine. Idempotent: does nothing when everything is already there.
set -euo pipefail

packages=(
  chromium chromium-driver         # the browser and its WebDriver, driven by fantoccini
  postgresql                       # server binaries for the throwaway test/demo clusters
  lame sox libsox-fmt-all          # reference encoder for the benchmark; test WAV generation
  asterisk-core-sounds-en-wav      # real 8 kHz telephone speech for tests and the demo
  docker-compose                   # `docker-compose config` checks docker-compose.yml statically
  python3-cryptography             # makes Fernet tokens exactly as the Python backend does
  ca-certificates curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "Installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
