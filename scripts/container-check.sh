#!/usr/bin/env bash
# The containers, built and run for real: both images from the unchanged Dockerfile, the compose
# file brought up, and a real pass inside the worker container, on this machine only.
#
#   scripts/container-check.sh            build (or reuse) the images, bring them up, check them
#   scripts/container-check.sh --clean    stop what it started, remove its images, then exit
#   scripts/container-check.sh --install  only install its Debian packages (.ci/run, up front)
#   scripts/container-check.sh --list     print the Debian packages it installs, one a line
#
# Installs podman and podman-compose from Debian's archive. Without an image registry it makes
# the Dockerfile's two base images (debian:bookworm-slim, rust:1-bookworm) from the archive with
# mmdebstrap. Then, with PostgreSQL and a console stand-in on this machine, it proves what a user
# relies on: `doctor` passes in the worker container; a `once` pass there stores one tenant's
# calls through the chromedriver sidecar's browser; /healthz answers on the published port and
# the image's HEALTHCHECK reports healthy; both containers run as non-root and share a writable
# download volume; SIGTERM ends the worker with exit 0 and no call left leased.
# Images are kept for the next run (podman's layer cache); containers, volumes and the network
# are removed on every exit. Logs stay in container-check-output/ (or $CONTAINER_CHECK_OUTPUT).
set -euo pipefail

packages=(
  podman buildah runc            # the engine; runc, because crun cannot set RLIMIT_NOFILE here
  uidmap fuse-overlayfs slirp4netns
  podman-compose                 # runs docker-compose.yml (1.0.3 in Debian 12)
  # Service names (http://chromedriver:9515) resolve only with this CNI plugin.
  golang-github-containernetworking-plugin-dnsname
  mmdebstrap                     # the two base images, from Debian's archive, without a registry
)

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
}

mode=check
case "${1:-}" in
  "") ;;
  --clean) mode=clean ;;
  --install) mode=install ;;
  --list) printf '%s\n' "${packages[@]}"; exit 0 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${CONTAINER_CHECK_OUTPUT:-$repo/container-check-output}
# What this script makes is named after it, so --clean removes exactly that.
project=ucmcheck
worker_image=localhost/${project}_worker
chromedriver_image=localhost/${project}_chromedriver
base_images=(debian:bookworm-slim rust:1-bookworm)
# The base images this run made itself (a registry's are left alone by --clean).
made_label=ucm-scraper.container-check=base

say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'container-check: %s\n' "$*" >&2; exit 1; }

# Phase timings, printed at the end with the load average.
timings=()
phase_started=0
phase() {
  phase_end
  phase_name=$1
  phase_started=$(date +%s)
  say "$1"
}
phase_end() {
  if [ "$phase_started" -ne 0 ]; then
    timings+=("$(printf '%-22s %5ss  (load %s)' "$phase_name" "$(($(date +%s) - phase_started))" \
      "$(cut -d' ' -f1-3 /proc/loadavg)")")
  fi
  phase_started=0
}

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root, or install sudo (podman runs rootful here)"
  sudo="sudo"
fi

# ---------------------------------------------------------------------------------------------
# The engine

install_tools() {
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  echo "Installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  # The policy is read whole first: `grep -q` on the pipe would quit early and, under pipefail,
  # apt-cache's broken pipe would read as a package missing.
  local policy
  for p in "${missing[@]}"; do
    policy=$(apt-cache policy "$p")
    grep -q 'Candidate: [0-9]' <<<"$policy" ||
      die "Debian package $p is not in this machine's apt sources"
  done
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# A private containers.conf (podman and podman-compose read CONTAINERS_CONF): runc, since crun
# cannot set RLIMIT_NOFILE and refuses hybrid cgroups; limits runc can set, high enough for
# Chromium and for cargo.
configure_podman() {
  mkdir -p "$out"
  export CONTAINERS_CONF=$out/containers.conf
  cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
EOF
}

podman() { $sudo env CONTAINERS_CONF="$CONTAINERS_CONF" podman "$@"; }

# ---------------------------------------------------------------------------------------------
# The base images

# True when Docker Hub answers (401 asks for a token: it is there), so the FROM lines can be
# pulled.
registry_answers() {
  local code
  code=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' https://registry-1.docker.io/v2/ 2>/dev/null) || true
  [ "$code" = 200 ] || [ "$code" = 401 ]
}

# The apt sources of this machine that serve bookworm (its mirror may be no deb.debian.org), as
# sources.list lines for the images: they can reach nothing else.
bookworm_sources() {
  apt-get indextargets --format '$(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT)' |
    awk '$1 == "deb" && $3 ~ /^bookworm(-updates|-security)?$/ && $4 == "main" {
      print "deb " $2 " " $3 " main" }' | sort -u
}

make_base_images() {
  local missing=() image
  for image in "${base_images[@]}"; do
    podman image exists "$image" || missing+=("$image")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "Base images present: ${base_images[*]}" >&2
    return
  fi
  if registry_answers; then
    for image in "${missing[@]}"; do podman pull "docker.io/library/$image"; done
    return
  fi
  local sources
  sources=$(bookworm_sources)
  grep -q ' bookworm-security ' <<<"$sources" ||
    die "this machine's apt sources have no bookworm and bookworm-security (apt-get indextargets): the base images come from them"
  echo "No image registry answers: making ${missing[*]} from these apt sources:" >&2
  sed 's/^/    /' <<<"$sources" >&2
  base_tmp=$(mktemp -d "${TMPDIR:-/tmp}/ucm-base.XXXXXX")
  printf '%s\n' "$sources" >"$base_tmp/sources.list"
  for image in "${missing[@]}"; do
    case $image in
      debian:*) make_slim_base "$base_tmp" ;;
      rust:*) make_rust_base "$base_tmp" ;;
    esac
    podman import --change 'CMD ["bash"]' --change "LABEL $made_label" \
      "$base_tmp/base.tar" "$image" >/dev/null
    rm -f "$base_tmp/base.tar"
  done
  rm -rf "$base_tmp"
}

make_slim_base() {
  $sudo mmdebstrap --quiet --variant=minbase bookworm "$1/base.tar" "$1/sources.list"
}

# What the Dockerfile's build stage uses of the official image: rustc and cargo (1.96, from
# bookworm-security), a C toolchain with make (the bundled LAME is built with autotools; its
# configure also calls `file`) and pkg-config.
make_rust_base() {
  # The build base also trusts this machine's certificate authorities (cargo reaches crates.io
  # through them): the bundle update-ca-certificates made here, local ones included. They are in
  # the build stage only, never in the images the Dockerfile ships.
  local certs=/etc/ssl/certs
  $sudo mmdebstrap --quiet --variant=apt \
    --include=rustc-web,cargo-web,gcc,libc6-dev,make,file,pkg-config,ca-certificates \
    --customize-hook="cp '$certs/ca-certificates.crt' \"\$1$certs/ca-certificates.crt\"" \
    bookworm "$1/base.tar" "$1/sources.list"
}

# ---------------------------------------------------------------------------------------------
# The images

# Both images, from the Dockerfile as it is, tagged as podman-compose names a service's image so
# that `up` finds them (podman-compose 1.0.3 exits 0 even when its own build fails).
# --format docker: the OCI format has no HEALTHCHECK, and podman would drop it.
build_images() {
  local target image
  for target in worker chromedriver; do
    image=localhost/${project}_$target
    echo "Building $image (target $target)" >&2
    podman build --format docker --layers --target "$target" -t "$image" -f "$repo/Dockerfile" \
      "$repo" >"$out/logs/build-$target.log" 2>&1 ||
      { tail -n 30 "$out/logs/build-$target.log" >&2; die "building $image failed (log: $out/logs/build-$target.log)"; }
    podman image exists "$image" || die "building $image left no image"
  done
}

# ---------------------------------------------------------------------------------------------
# The stand-ins on this machine, reached from the containers

# podman-compose's names for what `up` makes.
network=${project}_default
worker_container=${project}_worker_1
chromedriver_container=${project}_chromedriver_1
volumes=("${project}_downloads" "${project}_storage" "${project}_pgdata")
# The stand-ins refuse downloads closer together than this; the worker is told the same.
gap=1s
# PostgreSQL and the stand-ins listen on every address; the containers reach them through the
# gateway of their network, which podman names host.containers.internal in each container.
listen_host=0.0.0.0
console_host=host.containers.internal
work=""
base_tmp=""    # the base images' tarballs, while they are made
compose_dir=""

# ucm-scraper in the running worker container, with the service's settings (`podman exec`, as
# podman-compose 1.0.3's `run` neither returns the command's exit status nor keeps stdout clean).
worker() {
  podman exec -i "$worker_container" ucm-scraper "$@"
}

build_fake_ucm() {
  command -v cargo >/dev/null || die "cargo not found: the console stand-in is built on this machine"
  (cd "$repo" && cargo build --locked --quiet --example fake_ucm)
  fake_ucm=${CARGO_TARGET_DIR:-$repo/target}/debug/examples/fake_ucm
}

# The compose network, made before PostgreSQL so that pg_hba.conf can let in its subnet alone.
make_network() {
  podman network exists "$network" ||
    podman network create --label "io.podman.compose.project=$project" "$network" >/dev/null
  network_subnet=$(podman network inspect "$network" --format '{{range .Subnets}}{{.Subnet}} {{end}}' | cut -d' ' -f1)
  [ -n "$network_subnet" ] || die "podman network $network has no subnet"
}

start_stand_ins() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/ucm-container.XXXXXX")
  chmod 755 "$work"
  start_postgres "host all all $network_subnet trust"
  load_prompts
  start_demo_console acme 12
  start_demo_console globex 14
}

# The compose file as a user has it, beside a generated .env (an operator's own .env in the
# checkout is never read nor touched).
write_compose_dir() {
  compose_dir=$work/compose
  mkdir -p "$compose_dir"
  cp "$repo/docker-compose.yml" "$compose_dir/"
  cat >"$compose_dir/.env" <<ENV
DATABASE_URL=postgres://postgres@$console_host:$pg_port/postgres
PBX_ENCRYPTION_KEY=$(openssl rand -base64 32)
UCM_ACCEPT_INVALID_CERTS=true
UCM_DOWNLOAD_GAP=$gap
MAX_PARALLEL_TENANTS=2
NO_COLOR=1
ENV
}

podman_compose() {
  (cd "$compose_dir" && $sudo env CONTAINERS_CONF="$CONTAINERS_CONF" \
    podman-compose -p "$project" -f docker-compose.yml "$@")
}

# ---------------------------------------------------------------------------------------------
# Up, as a user brings it up

container_state() {
  podman container inspect "$1" --format '{{.State.Status}}' 2>/dev/null
}

compose_up() {
  (exec 3<>/dev/tcp/127.0.0.1/9000) 2>/dev/null &&
    die "port 9000 is taken on this machine; docker-compose.yml publishes the worker's /healthz there"
  # The services by name: podman-compose 1.0.3 ignores `profiles:` and would start the dev
  # Postgres. Its exit status says nothing, so the containers are checked below.
  podman_compose up -d chromedriver worker >"$out/logs/compose-up.log" 2>&1 || true
  local name
  for name in "$chromedriver_container" "$worker_container"; do
    [ "$(container_state "$name")" = running ] ||
      { tail -n 20 "$out/logs/compose-up.log" >&2; die "$name is not running after podman-compose up (log: $out/logs/compose-up.log)"; }
  done
  local image
  image=$(podman container inspect "$worker_container" --format '{{.ImageName}}')
  [ "$image" = "$worker_image:latest" ] || die "$worker_container runs $image, not $worker_image"
  # `run` applies the migrations first; the tenants table is there once it has.
  wait_until "the worker's migrations" 120 "$out/logs/compose-up.log" \
    psql_q "SELECT 1 FROM _sqlx_migrations LIMIT 1"
  wait_until "the worker's /healthz on port 9000" 60 "$out/logs/compose-up.log" \
    curl -fsS -o /dev/null http://127.0.0.1:9000/healthz
}

# ---------------------------------------------------------------------------------------------
# The checks, as a user would make them

check_doctor() {
  add_demo_tenant acme
  acme_id=$tenant_id
  worker doctor 2>&1 | tee "$out/logs/doctor.log" >&2 ||
    die "ucm-scraper doctor failed in the worker container (log: $out/logs/doctor.log)"
}

# Where a volume's files are on this machine (rootful podman: readable as root).
volume_dir() {
  podman volume inspect "$1" --format '{{.Mountpoint}}'
}

# Counts the tenant's calls that do not end in a stored MP3, in the database.
calls_without_mp3() {
  psql -X -At "$database_url" -c "SELECT count(*) FROM cdr_records WHERE tenant_id = $1
    AND NOT (recording_downloaded AND coalesce(recording_local_path, '') LIKE '%.mp3')"
}

check_once() {
  worker once >"$out/logs/once.log" 2>&1 ||
    { tail -n 30 "$out/logs/once.log" >&2; die "ucm-scraper once failed in the worker container (log: $out/logs/once.log)"; }
  local missing
  missing=$(calls_without_mp3 "$acme_id")
  [ "$missing" -eq 0 ] || die "$missing call(s) of tenant $acme_id have no MP3 after once (log: $out/logs/once.log)"
  # Every stored key is an MP3 file in the storage volume, as this machine sees it.
  local storage key count=0
  storage=$(volume_dir "${project}_storage")
  while IFS= read -r key; do
    $sudo test -s "$storage/$key" || die "$key is in cdr_records but not in the storage volume ($storage)"
    [ "$($sudo soxi -t "$storage/$key")" = mp3 ] || die "$storage/$key is not an MP3"
    count=$((count + 1))
  done < <(psql -X -At "$database_url" -c "SELECT recording_local_path FROM cdr_records WHERE tenant_id = $acme_id")
  [ "$count" -gt 0 ] || die "tenant $acme_id has no calls"
  echo "once: $count calls stored as MP3s in the storage volume ($storage), $($sudo du -sh "$storage" | cut -f1)" >&2
}

check_health() {
  curl -fsS http://127.0.0.1:9000/healthz >&2 || die "/healthz does not answer on the published port 9000"
  echo >&2
  # Without systemd nothing runs podman's health timers: run the image's HEALTHCHECK once.
  podman healthcheck run "$worker_container" >&2 || die "the worker image's HEALTHCHECK failed"
  local status
  status=$(podman container inspect "$worker_container" --format '{{.State.Health.Status}}')
  [ "$status" = healthy ] || die "the worker container's health is $status"
  echo "HEALTHCHECK: $status" >&2
}

check_users_and_volume() {
  local name uid users
  for name in "$worker_container" "$chromedriver_container"; do
    uid=$(podman exec "$name" id -u)
    [ "$uid" -ne 0 ] || die "$name runs as root"
    # Every process, not just one: any root one fails.
    users=$(podman top "$name" user | tail -n +2)
    [ -n "$users" ] || die "podman top lists no process in $name"
    ! grep -qx root <<<"$users" || die "a process of $name runs as root: $(tr '\n' ' ' <<<"$users")"
    echo "$name runs as uid $uid" >&2
  done
  # A file each container writes into /downloads, the other reads and removes.
  local probe
  probe=.container-check-$RANDOM
  podman exec "$chromedriver_container" sh -c "echo browser >/downloads/$probe.b"
  podman exec "$worker_container" sh -c "echo worker >/downloads/$probe.w"
  podman exec "$worker_container" sh -c "grep -qx browser /downloads/$probe.b && rm /downloads/$probe.b" ||
    die "the worker cannot read and remove a file the browser container wrote in /downloads"
  podman exec "$chromedriver_container" sh -c "grep -qx worker /downloads/$probe.w && rm /downloads/$probe.w" ||
    die "the browser container cannot read and remove a file the worker wrote in /downloads"
  echo "/downloads is shared and writable by both" >&2
}

# The stored calls of a tenant.
stored_calls() {
  psql -X -At "$database_url" -c "SELECT count(*) FROM cdr_records WHERE tenant_id = $1 AND recording_downloaded"
}

has_stored_calls() {
  [ "$(stored_calls "$1")" -gt 0 ]
}

# A second tenant, worked by the container's own `run`; SIGTERM (`podman stop`, as
# `docker-compose stop`) once its first call is stored.
check_sigterm() {
  add_demo_tenant globex
  local globex_id=$tenant_id total
  total=$(psql -X -At "$database_url" -c "SELECT count(*) FROM cdr_records WHERE tenant_id = $globex_id")
  # `run` made its first pass at start, before this tenant existed: a restart starts the next.
  podman restart "$worker_container" >/dev/null 2>>"$out/logs/podman.log"
  wait_until "a first stored call of tenant $globex_id" 300 /dev/null has_stored_calls "$globex_id"
  local started=$SECONDS
  podman stop -t 120 "$worker_container" >/dev/null 2>>"$out/logs/podman.log"
  local code leased stored
  code=$(podman container inspect "$worker_container" --format '{{.State.ExitCode}}')
  stored=$(stored_calls "$globex_id")
  leased=$(psql -X -At "$database_url" -c "SELECT count(*) FROM cdr_records
    WHERE recording_status = 'downloading' OR recording_lease_until IS NOT NULL")
  podman logs "$worker_container" >"$out/logs/worker-run.log" 2>&1
  echo "SIGTERM: exit $code after $((SECONDS - started)) s; tenant $globex_id had $stored of $total calls stored; $leased left leased" >&2
  [ "$code" -eq 0 ] || die "the worker container exited $code on SIGTERM (log: $out/logs/worker-run.log)"
  [ "$leased" -eq 0 ] || die "$leased call(s) left leased after SIGTERM (log: $out/logs/worker-run.log)"
  [ "$stored" -lt "$total" ] || echo "note: the pass had stored every call before SIGTERM arrived" >&2
  # The sidecar ends on SIGTERM too, rather than being killed when the stop times out.
  started=$SECONDS
  podman stop -t 60 "$chromedriver_container" >/dev/null 2>>"$out/logs/podman.log"
  code=$(podman container inspect "$chromedriver_container" --format '{{.State.ExitCode}}')
  echo "SIGTERM: the chromedriver container exited $code after $((SECONDS - started)) s" >&2
  [ "$code" -ne 137 ] || die "the chromedriver container ignored SIGTERM and was killed after 60 s"
}

# ---------------------------------------------------------------------------------------------
# Cleanup: runs on every exit, also after an error or Ctrl-C.

# Stops and removes the containers, volumes and network this script made (if any).
compose_down() {
  local name
  for name in "$worker_container" "$chromedriver_container"; do
    if podman container exists "$name"; then
      podman logs "$name" >"$out/logs/$name.log" 2>&1
      podman rm -f -t 30 "$name" >/dev/null 2>>"$out/logs/podman.log"
    fi
  done
  for name in "${volumes[@]}"; do
    if podman volume exists "$name"; then podman volume rm -f "$name" >/dev/null; fi
  done
  if podman network exists "$network"; then podman network rm -f "$network" >/dev/null; fi
}

cleanup() {
  local status=$?
  set +e
  [ "$status" -eq 0 ] || [ "$phase_started" -eq 0 ] ||
    printf 'container-check: failed (exit %s) in the phase "%s"\n' "$status" "$phase_name" >&2
  phase_end
  [ "$mode" = check ] && [ -n "${CONTAINERS_CONF:-}" ] && compose_down
  stop_stand_ins
  [ -n "$work" ] && rm -rf "$work"
  [ -n "$base_tmp" ] && $sudo rm -rf "$base_tmp"
  if [ ${#timings[@]} -gt 0 ]; then
    printf '\nPhases (%s cores):\n' "$(nproc)" >&2
    printf '  %s\n' "${timings[@]}" >&2
  fi
  exit "$status"
}

# Removes the images this script built and the base images it made.
remove_images() {
  local image
  for image in "$worker_image" "$chromedriver_image"; do
    if podman image exists "$image"; then podman rmi -f "$image" >/dev/null; fi
  done
  for image in "${base_images[@]}"; do
    if podman image exists "$image" &&
      [ "$(podman image inspect "$image" --format '{{index .Labels "ucm-scraper.container-check"}}')" = base ]; then
      podman rmi -f "$image" >/dev/null
    fi
  done
  # The untagged layers of the builds above (the cargo build stage among them).
  podman image prune -f >/dev/null
  echo "Removed the images of $0" >&2
}

# ---------------------------------------------------------------------------------------------

main() {
  mkdir -p "$out/logs"
  if [ "$mode" = clean ]; then
    command -v podman >/dev/null || { echo "podman is not installed: nothing to clean" >&2; return; }
    configure_podman
    compose_down
    remove_images
    return
  fi
  if [ "$mode" = install ]; then
    install_tools
    return
  fi
  local started=$SECONDS
  phase "Tools";        install_tools; configure_podman
  phase "Base images";  make_base_images
  phase "Build images"; build_images
  # What an interrupted earlier run left goes first.
  phase "Stand-ins";    compose_down; build_fake_ucm; make_network; start_stand_ins; write_compose_dir
  phase "Compose up";   compose_up
  phase "doctor";       check_doctor
  phase "once";         check_once
  phase "Health";       check_health
  phase "Users, volume"; check_users_and_volume
  phase "SIGTERM";      check_sigterm
  phase_end
  podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
    grep -E "${project}_|bookworm" | sed 's/^/  image /' >&2
  echo "container-check: passed in $((SECONDS - started)) s" >&2
}

# shellcheck source=scripts/stand-ins.sh
. "$repo/scripts/stand-ins.sh"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
main
