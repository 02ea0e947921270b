#!/usr/bin/env bash
# The demo: the real job, end to end, on this machine only.
#
#   ./scripts/demo.sh [--headed]
#
# Starts a throwaway PostgreSQL, chromedriver and two UCM console stand-ins (two tenants, the two
# markup generations, HTTPS with self-signed certificates) holding a few dozen calls recorded as
# real speech, adds the tenants with `ucm-scraper tenant add` (passwords encrypted by the worker),
# inserts their CDR rows, runs `ucm-scraper once` with local storage, then prints the operators'
# guide verification table and where the MP3s are. Everything it started is stopped and its temp
# directory removed on exit; the MP3s and logs stay in demo-output/ (or $DEMO_OUTPUT).
# Exits non-zero when any call ends without an MP3.
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
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
services=()    # "pid signal" of each background service we started, stopped by cleanup
pg_data=""     # the throwaway cluster's data directory, stopped by cleanup
as_root=false
[ "$(id -u)" -eq 0 ] && as_root=true

say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Cleanup: runs on every exit, also after an error or Ctrl-C, and tolerates half-started runs.

cleanup() {
  local status=$?
  set +e
  local service
  for service in "${services[@]}"; do
    # shellcheck disable=SC2086 # "pid signal", split on purpose
    stop_group $service
  done
  if [ -n "$pg_data" ] && [ -d "$pg_data" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$pg_data" stop -m fast -w -t 30 >/dev/null 2>&1
  fi
  [ -n "$work" ] && rm -rf "$work"
  if [ -d "$out" ]; then
    printf '\nKept: %s (MP3s under storage/, logs under logs/)\n' "$out" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Each background service runs in its own session (setsid), so its pid is also its process
# group: stopping the group also stops any Chromium a chromedriver left behind, and nothing else.
# The signal is per service: a background job of a script starts with SIGINT ignored, so
# chromedriver only answers TERM, while the stand-ins catch INT to log what they served.
stop_group() {
  local pid=$1 signal=$2 deadline=$((SECONDS + 10))
  kill "-$signal" -- "-$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      kill -KILL -- "-$pid" 2>/dev/null
      break
    fi
    sleep 0.2
  done
  wait "$pid" 2>/dev/null
}

# Polls `check` (a command) until it succeeds, at most `seconds`; shows `log` when it never does.
wait_until() {
  local what=$1 seconds=$2 log=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      [ -f "$log" ] && tail -n 20 "$log" >&2
      die "$what not ready after ${seconds}s (log: $log)"
    fi
    sleep 0.2
  done
}

# A TCP port nobody listens on: probing with bash's /dev/tcp needs no extra tools.
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free TCP port found"
}

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

# Runs a PostgreSQL server binary: initdb refuses to run as root, so as root the cluster belongs
# to the postgres user.
as_pg() {
  if $as_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  pg_bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$pg_bin/initdb" ] || die "no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)"
  pg_port=$(free_port)
  local dir=$work/pg
  mkdir -p "$dir"
  $as_root && chown postgres "$dir"
  say "Starting PostgreSQL ($pg_bin) on 127.0.0.1:$pg_port"
  as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$out/logs/initdb.log" 2>&1 ||
    { tail -n 20 "$out/logs/initdb.log" >&2; die "initdb failed"; }
  pg_data=$dir/data
  # fsync off: the cluster lives for one run, speed matters more than durability.
  as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$dir/server.log" -w -t 60 \
    -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off" start >/dev/null ||
    { tail -n 20 "$dir/server.log" >&2; die "PostgreSQL did not start"; }
  database_url="postgres://postgres@127.0.0.1:$pg_port/postgres"
  wait_until "PostgreSQL" 30 "$dir/server.log" psql_q "SELECT 1"
}

psql_q() {
  psql -X -q -v ON_ERROR_STOP=1 "$database_url" -c "$1" >/dev/null
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
# The calls: real 8 kHz telephone speech (Debian's Asterisk prompts), named as a UCM names them.

prompts=()

# Writes `count` recordings for one console into `dir` and their CDR rows into `sql`
# (the tenant id is filled in later as :tenant). Calls are spread over the last hours, newest
# first, alternating outbound (extension → number) and inbound, each 2 to 8 prompts long.
make_calls() {
  local dir=$1 count=$2 zone=$3 seed=$4 sql=$5
  local now i epoch ext number src dst n first wav duration start end month uniqueid
  mkdir -p "$dir"
  now=$(date +%s)
  : >"$sql"
  for ((i = 0; i < count; i++)); do
    epoch=$((now - 900 - i * 1500 - (seed * 97 + i * 211) % 600))
    ext=$((1000 + (i + seed) % 6))
    number=$((2815058200 + seed * 1000 + i * 37 % 1000))
    if ((i % 2 == 0)); then src=$ext dst=$number; else src=$number dst=$ext; fi
    wav=$dir/auto-$epoch-$src-$dst.wav
    n=$((2 + (i * 5 + seed) % 7))
    first=$(((i * 37 + seed * 101) % ${#prompts[@]}))
    local chosen=()
    for ((k = 0; k < n; k++)); do
      chosen+=("${prompts[$(((first + k) % ${#prompts[@]}))]}")
    done
    # A UCM records 8 kHz mono 16-bit PCM; sox makes sure of it whatever a prompt holds.
    sox "${chosen[@]}" -r 8000 -c 1 -b 16 -e signed-integer "$wav"
    duration=$(soxi -D "$wav" | cut -d. -f1)
    # The CDR's times are text as the UCM sends them (its zone); call_date is UTC.
    start=$(TZ=$zone date -d "@$epoch" '+%F %T')
    end=$(TZ=$zone date -d "@$((epoch + duration))" '+%F %T')
    month=$(date -u -d "@$epoch" +%Y-%m)
    uniqueid="$epoch.$((100 + i))"
    printf "INSERT INTO cdr_records (tenant_id, uniqueid, src, dst, start_time, answer_time, end_time, duration, billsec, disposition, recordfiles, call_date) VALUES (:tenant, '%s', '%s', '%s', '%s', '%s', '%s', %d, %d, 'ANSWERED', '%s', '%s');\n" \
      "$uniqueid" "$src" "$dst" "$start" "$start" "$end" "$duration" "$duration" \
      "$month/auto-$epoch-$src-$dst.wav@" "$(date -u -d "@$epoch" '+%F %T')" >>"$sql"
  done
}

# Starts one console stand-in on a free port and sets `console_port`.
start_console() {
  local name=$1 skin=$2 zone=$3 dir=$4 password=$5
  local log=$out/logs/console-$name.log
  # Port 0: the stand-in picks a free port and prints its URL, which we read back.
  setsid "$fake_ucm" --port 0 --skin "$skin" --recordings "$dir" --tls --timezone "$zone" \
    --username admin --password "$password" --download-gap "$gap" --download-delay 500ms \
    >"$log" 2>&1 &
  services+=("$! INT")
  wait_until "console stand-in $name" 30 "$log" grep -q 'listening on https://' "$log"
  console_port=$(sed -n 's|.*listening on https://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -n 1)
  wait_until "console stand-in $name" 30 "$log" curl -kfsS -o /dev/null "https://127.0.0.1:$console_port/"
  printf '    %-11s %s stand-in on https://127.0.0.1:%s (%s, %s calls)\n' \
    "$name" "$skin" "$console_port" "$zone" "$(find "$dir" -name '*.wav' | wc -l)" >&2
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
    "$bin" "${headed[@]}" "$@")
}

# Adds a tenant through the worker (which encrypts the password), then its CDR rows.
add_tenant() {
  local name=$1 subdomain=$2 port=$3 password=$4 zone=$5 sql=$6 id
  id=$(printf '%s\n' "$password" | worker tenant add --company-name "$name" --subdomain "$subdomain" \
    --pbx-ip 127.0.0.1 --pbx-port "$port" --pbx-username admin --ucm-timezone "$zone" \
    --pbx-password-stdin 2>>"$out/logs/tenant-add.log")
  psql -X -q -v ON_ERROR_STOP=1 -v tenant="$id" "$database_url" -f "$sql" >/dev/null
  printf '    tenant %s: %s, password stored as %s\n' "$id" "$name" \
    "$(psql -X -At "$database_url" -c "SELECT left(pbx_password, 12) || '… (' || length(pbx_password) || ' chars)' FROM tenants WHERE id = $id")" >&2
}

# ---------------------------------------------------------------------------------------------

main() {
  install_and_build
  prepare_dirs
  start_postgres
  start_chromedriver

  local speech_dir
  speech_dir=$("$repo/scripts/speech-dir.sh") || die "no speech prompts to record calls from"
  say "Recording calls (speech from $speech_dir)"
  mapfile -t prompts < <(find "$speech_dir" -maxdepth 1 -name '*.wav' | sort)
  [ ${#prompts[@]} -gt 10 ] || die "only ${#prompts[@]} prompts in $speech_dir (apt-get install --reinstall asterisk-core-sounds-en-wav)"
  make_calls "$work/calls/acme" 18 Europe/Berlin 1 "$work/calls/acme.sql"
  make_calls "$work/calls/globex" 14 America/Chicago 2 "$work/calls/globex.sql"

  say "Starting the console stand-ins"
  local acme_password globex_password acme_port globex_port
  acme_password=$(openssl rand -hex 12)
  globex_password=$(openssl rand -hex 12)
  start_console acme ucm63xx Europe/Berlin "$work/calls/acme" "$acme_password"
  acme_port=$console_port
  start_console globex ucm62xx America/Chicago "$work/calls/globex" "$globex_password"
  globex_port=$console_port

  say "ucm-scraper migrate; tenant add (passwords encrypted with a fresh PBX_ENCRYPTION_KEY)"
  encryption_key=$(openssl rand -base64 32)
  worker migrate 2>>"$out/logs/migrate.log"
  add_tenant "Acme Corp" acme "$acme_port" "$acme_password" Europe/Berlin "$work/calls/acme.sql"
  add_tenant "Globex Inc" globex "$globex_port" "$globex_password" America/Chicago "$work/calls/globex.sql"

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
  if [ "$missing" -ne 0 ] || [ "$mp3s" -eq 0 ]; then
    die "$missing call(s) ended without an MP3 (see $out/logs/worker.log and $out/artifacts)"
  fi
  [ "$once_status" -eq 0 ] || die "ucm-scraper once exited $once_status (see $out/logs/worker.log)"
  echo "Every call has its MP3."
}

main
