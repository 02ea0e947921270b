# Sourced by scripts/demo.sh and scripts/container-check.sh (not run on its own): what the demo
# runs the worker against. A throwaway PostgreSQL, UCM console stand-ins holding calls recorded
# as real speech, and tenants added through the worker.
#
# The sourcing script sets:
#   out          logs go to $out/logs
#   work         a temp directory for the cluster, the calls and their SQL
#   fake_ucm     the console stand-in binary (cargo build --example fake_ucm)
#   gap          the least time between two downloads the stand-ins allow (and the worker keeps)
#   listen_host  the address PostgreSQL and the stand-ins listen on (127.0.0.1, or 0.0.0.0 when
#                containers reach them)
#   console_host the address the worker and its browser reach the stand-ins at
# and defines `worker ARGS…`, which runs ucm-scraper with the settings of its setup.
# It calls stop_stand_ins in its exit trap.
# shellcheck shell=bash

services=()    # "pid signal" of each background service we started, stopped by stop_stand_ins
pg_data=""     # the throwaway cluster's data directory, stopped by stop_stand_ins
as_root=false
[ "$(id -u)" -eq 0 ] && as_root=true

# Stops every service and the cluster started so far; tolerates a half-started run.
stop_stand_ins() {
  local service
  for service in "${services[@]}"; do
    # shellcheck disable=SC2086 # "pid signal", split on purpose
    stop_group $service
  done
  services=()
  if [ -n "$pg_data" ] && [ -d "$pg_data" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$pg_data" stop -m fast -w -t 30 >/dev/null 2>&1
  fi
  pg_data=""
}

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

# Runs a PostgreSQL server binary: initdb refuses to run as root, so as root the cluster belongs
# to the postgres user.
as_pg() {
  if $as_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Starts the cluster on `listen_host` and sets `database_url` (through 127.0.0.1). Any
# `hba_line` given is added to pg_hba.conf (who else may connect, without a password).
start_postgres() {
  local hba_line=${1:-}
  pg_bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$pg_bin/initdb" ] || die "no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)"
  pg_port=$(free_port)
  local dir=$work/pg
  mkdir -p "$dir"
  $as_root && chown postgres "$dir"
  say "Starting PostgreSQL ($pg_bin) on $listen_host:$pg_port"
  as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$out/logs/initdb.log" 2>&1 ||
    { tail -n 20 "$out/logs/initdb.log" >&2; die "initdb failed"; }
  pg_data=$dir/data
  [ -z "$hba_line" ] || printf '%s\n' "$hba_line" >>"$pg_data/pg_hba.conf"
  # fsync off: the cluster lives for one run, speed matters more than durability.
  as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$dir/server.log" -w -t 60 \
    -o "-p $pg_port -c listen_addresses=$listen_host -k $dir -c fsync=off" start >/dev/null ||
    { tail -n 20 "$dir/server.log" >&2; die "PostgreSQL did not start"; }
  database_url="postgres://postgres@127.0.0.1:$pg_port/postgres"
  wait_until "PostgreSQL" 30 "$dir/server.log" psql_q "SELECT 1"
}

psql_q() {
  psql -X -q -v ON_ERROR_STOP=1 "$database_url" -c "$1" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# The calls: real 8 kHz telephone speech (Debian's Asterisk prompts), named as a UCM names them.

prompts=()

# Finds the speech prompts the calls are made of; once per run, before make_calls.
load_prompts() {
  local speech_dir
  speech_dir=$("$repo/scripts/speech-dir.sh") || die "no speech prompts to record calls from"
  say "Recording calls (speech from $speech_dir)"
  mapfile -t prompts < <(find "$speech_dir" -maxdepth 1 -name '*.wav' | sort)
  [ ${#prompts[@]} -gt 10 ] || die "only ${#prompts[@]} prompts in $speech_dir (apt-get install --reinstall asterisk-core-sounds-en-wav)"
}

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

# Starts one console stand-in on a free port of `listen_host` and sets `console_port`.
start_console() {
  local name=$1 skin=$2 zone=$3 dir=$4 password=$5
  local log=$out/logs/console-$name.log
  # Port 0: the stand-in picks a free port and prints its URL, which we read back.
  setsid "$fake_ucm" --host "$listen_host" --port 0 --skin "$skin" --recordings "$dir" --tls \
    --timezone "$zone" --username admin --password "$password" --download-gap "$gap" \
    --download-delay 500ms >"$log" 2>&1 &
  services+=("$! INT")
  wait_until "console stand-in $name" 30 "$log" grep -q 'listening on https://' "$log"
  console_port=$(sed -n 's|.*listening on https://[0-9.]*:\([0-9]*\).*|\1|p' "$log" | head -n 1)
  wait_until "console stand-in $name" 30 "$log" curl -kfsS -o /dev/null "https://127.0.0.1:$console_port/"
  printf '    %-11s %s stand-in on https://%s:%s (%s, %s calls)\n' \
    "$name" "$skin" "$console_host" "$console_port" "$zone" "$(find "$dir" -name '*.wav' | wc -l)" >&2
}

# Adds a tenant through the worker (which encrypts the password), then its CDR rows; sets
# `tenant_id`.
add_tenant() {
  local name=$1 subdomain=$2 port=$3 password=$4 zone=$5 sql=$6 id
  id=$(printf '%s\n' "$password" | worker tenant add --company-name "$name" --subdomain "$subdomain" \
    --pbx-ip "$console_host" --pbx-port "$port" --pbx-username admin --ucm-timezone "$zone" \
    --pbx-password-stdin 2>>"$out/logs/tenant-add.log")
  psql -X -q -v ON_ERROR_STOP=1 -v tenant="$id" "$database_url" -f "$sql" >/dev/null
  printf '    tenant %s: %s, password stored as %s\n' "$id" "$name" \
    "$(psql -X -At "$database_url" -c "SELECT left(pbx_password, 12) || '… (' || length(pbx_password) || ' chars)' FROM tenants WHERE id = $id")" >&2
  tenant_id=$id
}

# ---------------------------------------------------------------------------------------------
# The demo's two consoles, one per markup generation: name → "skin zone seed company".

declare -A demo_consoles=(
  [acme]="ucm63xx Europe/Berlin 1 Acme Corp"
  [globex]="ucm62xx America/Chicago 2 Globex Inc"
)
declare -A console_ports=() console_passwords=()

# Records `count` calls for the demo console `name` and starts its stand-in, with a fresh
# password.
start_demo_console() {
  local name=$1 count=$2 skin zone seed company
  read -r skin zone seed company <<<"${demo_consoles[$name]}"
  make_calls "$work/calls/$name" "$count" "$zone" "$seed" "$work/calls/$name.sql"
  console_passwords[$name]=$(openssl rand -hex 12)
  start_console "$name" "$skin" "$zone" "$work/calls/$name" "${console_passwords[$name]}"
  console_ports[$name]=$console_port
}

# Adds the demo console `name` as a tenant, with its calls' CDR rows; sets `tenant_id`.
add_demo_tenant() {
  local name=$1 skin zone seed company
  read -r skin zone seed company <<<"${demo_consoles[$name]}"
  add_tenant "$company" "$name" "${console_ports[$name]}" "${console_passwords[$name]}" "$zone" \
    "$work/calls/$name.sql"
}
