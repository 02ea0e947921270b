#!/usr/bin/env bash
# The demo: the real job, end to end, on this machine only.
#
#   ./scripts/demo.sh [--headed]
#
# Starts a throwaway PostgreSQL, chromedriver and two UCM console stand-ins (two tenants, the two
# markup generations, HTTPS with self-signed certificates) holding a few dozen calls recorded as
# real speech, adds the tenants with `ucm-scraper tenant add` (passwords encrypted by the worker),
# inserts their CDR rows, runs `ucm-scraper once` with local storage, then prints the operators'
# guide verification table and where the MP3s are. Then it serves the operators' dashboard
# (`ucm-scraper dashboard`) and prints its address and a one-time operator password; on a
# terminal it keeps serving until Enter is pressed. Everything it started is stopped and its temp
# directory removed on exit; the MP3s and logs stay in demo-output/ (or $DEMO_OUTPUT).
# Exits non-zero when any call ends without an MP3.
set -euo pipefail

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}

headed=()
case "${1:-}" in
  "") ;;
  --headed) headed=(--headed) ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${DEMO_OUTPUT:-$repo/demo-output}
# The stand-ins refuse downloads closer together than this (a real UCM: ~15 s); the worker is told
# the same gap, as an operator sets UCM_DOWNLOAD_GAP to match their console.
gap=1s
started_at=$(date +%s)
work=""
# PostgreSQL, the stand-ins and the worker listen on and reach 127.0.0.1 only.
listen_host=127.0.0.1
console_host=127.0.0.1

say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Cleanup: runs on every exit, also after an error or Ctrl-C, and tolerates half-started runs.

cleanup() {
  local status=$?
  set +e
  stop_stand_ins
  [ -n "$work" ] && rm -rf "$work"
  if [ -d "$out" ]; then
    printf '\nKept: %s (MP3s under storage/, logs under logs/)\n' "$out" >&2
  fi
  exit "$status"
}
# shellcheck source=scripts/stand-ins.sh
. "$repo/scripts/stand-ins.sh"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Setup

install_and_build() {
  say "Installing Debian packages (scripts/install-deps.sh) and building"
  "$repo/scripts/install-deps.sh"
  command -v cargo >/dev/null ||
    die "cargo not found: install a Rust toolchain (https://rustup.rs), then run this again"
  if [ ${#headed[@]} -gt 0 ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    die "--headed needs a display (DISPLAY or WAYLAND_DISPLAY is unset)"
  fi
  (cd "$repo" && cargo build --locked --bin ucm-scraper --example fake_ucm)
  local target=${CARGO_TARGET_DIR:-$repo/target}
  bin=$target/debug/ucm-scraper
  fake_ucm=$target/debug/examples/fake_ucm
}

prepare_dirs() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/ucm-demo.XXXXXX")
  # Readable by the postgres user, which owns the cluster when we run as root.
  chmod 755 "$work"
  mkdir -p "$work/downloads" "$work/calls" "$out"
  # A fresh result every run: the database is new, so older MP3s would no longer match it.
  rm -rf "$out/storage" "$out/artifacts" "$out/logs"
  mkdir -p "$out/storage" "$out/logs"
}

start_chromedriver() {
  chromedriver_port=$(free_port)
  say "Starting chromedriver on 127.0.0.1:$chromedriver_port"
  setsid chromedriver --port="$chromedriver_port" >"$out/logs/chromedriver.log" 2>&1 &
  services+=("$! TERM")
  wait_until "chromedriver" 30 "$out/logs/chromedriver.log" \
    sh -c "curl -fsS http://127.0.0.1:$chromedriver_port/status | grep -q '\"ready\":true'"
}

# ---------------------------------------------------------------------------------------------
# The worker, always with exactly the demo's settings: `env -i` and a working directory outside
# the checkout keep an operator's .env (which could name a real Supabase) out of the demo.
# NO_COLOR: the log is also kept as a file, where colour codes would only be noise.

worker() {
  (cd "$work" && env -i \
    PATH="$PATH" HOME="${HOME:-/root}" NO_COLOR=1 \
    DISPLAY="${DISPLAY:-}" WAYLAND_DISPLAY="${WAYLAND_DISPLAY:-}" \
    DATABASE_URL="$database_url" \
    PBX_ENCRYPTION_KEY="$encryption_key" \
    WEBDRIVER_URL="http://127.0.0.1:$chromedriver_port" \
    UCM_ACCEPT_INVALID_CERTS=true \
    UCM_DOWNLOAD_GAP="$gap" \
    DOWNLOAD_DIR="$work/downloads" \
    STORAGE_DIR="$out/storage" \
    ARTIFACTS_DIR="$out/artifacts" \
    SELECTORS_DIR="$repo/selectors" \
    MAX_PARALLEL_TENANTS=2 \
    DASHBOARD_ADDR="${dashboard_addr:-}" \
    "$bin" "${headed[@]}" "$@")
}

# The operators' dashboard on a free port, with a new operator `demo` whose password is made for
# this run only (the database is thrown away at the end).
start_dashboard() {
  dashboard_addr="127.0.0.1:$(free_port)"
  dashboard_password=$(openssl rand -base64 18)
  printf '%s\n' "$dashboard_password" | worker operator add demo --password-stdin \
    >>"$out/logs/dashboard.log" 2>&1 || die "ucm-scraper operator add failed (see $out/logs/dashboard.log)"
  # Job control gives the background job a process group of its own, which stop_group stops.
  set -m
  worker dashboard >>"$out/logs/dashboard.log" 2>&1 &
  services+=("$! TERM")
  set +m
  wait_until "the dashboard" 30 "$out/logs/dashboard.log" \
    curl -fsS -o /dev/null "http://$dashboard_addr/sign-in"
}

# ---------------------------------------------------------------------------------------------

main() {
  install_and_build
  prepare_dirs
  start_postgres
  start_chromedriver

  load_prompts
  start_demo_console acme 18
  start_demo_console globex 14

  say "ucm-scraper migrate; tenant add (passwords encrypted with a fresh PBX_ENCRYPTION_KEY)"
  encryption_key=$(openssl rand -base64 32)
  worker migrate 2>>"$out/logs/migrate.log"
  add_demo_tenant acme
  add_demo_tenant globex

  say "ucm-scraper doctor (every dependency checked, one line each)"
  worker doctor 2>>"$out/logs/doctor.log" || die "ucm-scraper doctor found a problem (see above and $out/logs/doctor.log)"

  say "ucm-scraper ${headed[*]:+${headed[*]} }once (log: $out/logs/worker.log)"
  local once_status=0
  worker once 2>&1 | tee "$out/logs/worker.log" || once_status=$?

  say "Verification (the operators' guide query)"
  psql -X -P footer=off "$database_url" -c "
    SELECT t.company_name,
           count(c.id) AS total_calls,
           count(c.id) FILTER (WHERE c.recording_downloaded) AS calls_with_recordings,
           count(c.id) FILTER (WHERE c.recording_local_path LIKE '%.mp3') AS mp3_files
    FROM tenants t LEFT JOIN cdr_records c ON c.tenant_id = t.id
    GROUP BY t.id, t.company_name ORDER BY t.id"

  local mp3s missing
  mp3s=$(find "$out/storage" -name '*.mp3' -type f | wc -l)
  echo "MP3s in $out/storage: $mp3s files, $(du -sh "$out/storage" | cut -f1)"
  find "$out/storage" -name '*.mp3' -type f | sort | sed "s|^$out/||" | head -n 6
  if [ "$mp3s" -gt 6 ]; then echo "…"; fi
  echo "Finished in $(($(date +%s) - started_at)) s"

  missing=$(psql -X -At "$database_url" -c \
    "SELECT count(*) FROM cdr_records WHERE coalesce(recording_local_path, '') NOT LIKE '%.mp3'")

  start_dashboard
  say "The operators' dashboard (log: $out/logs/dashboard.log)"
  echo "Dashboard: http://$dashboard_addr/"
  echo "Operator:  demo"
  echo "Password:  $dashboard_password   (one-time: made for this run's throwaway database)"
  if [ -t 0 ]; then
    read -r -p "Press Enter to stop the dashboard and end the demo. " _
  fi
  if [ "$missing" -ne 0 ] || [ "$mp3s" -eq 0 ]; then
    die "$missing call(s) ended without an MP3 (see $out/logs/worker.log and $out/artifacts)"
  fi
  [ "$once_status" -eq 0 ] || die "ucm-scraper once exited $once_status (see $out/logs/worker.log)"
  echo "Every call has its MP3."
}

main
