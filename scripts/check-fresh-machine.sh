#!/usr/bin/env bash
# Fails when the scripts, tests, benches or examples use something from outside the repository
# that scripts/install-deps.sh does not install: a green run on a machine that happened to have it
# would otherwise hide a missing install step. Run by .ci/run after install-deps.sh.
#
# What a fresh machine has without install-deps.sh: Debian's required packages (Essential or
# Priority: required), git, curl, sudo and a Rust toolchain (rustup's cargo and rustc). Everything
# else must be owned (dpkg -S) by a package that install-deps.sh lists, or by one of their
# dependencies (Depends and Pre-Depends only: a Recommends is not installed).
#
# It checks two things:
#   - every absolute system path written in those files (/usr/…, /etc/…, /opt/…, /var/…);
#   - every program they start: `Command::new("…")` in Rust, and the commands of the shell scripts.
set -euo pipefail
cd "$(dirname "$0")/.."

sources=(scripts tests benches examples src .ci)
# This script's own patterns would read as paths and commands; it uses only dpkg and coreutils.
self=scripts/check-fresh-machine.sh
# Commands the fresh machine has by definition (see above).
baseline_commands=(git curl sudo cargo rustc rustup)

failures=()
fail() { failures+=("$*"); }

# ---------------------------------------------------------------------------------------------
# The packages a fresh machine has once install-deps.sh has run.

# container-check.sh installs its own engine (podman), only for itself.
mapfile -t listed < <(scripts/install-deps.sh --list; scripts/container-check.sh --list)
mapfile -t base < <(dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' |
  awk '$2 == "yes" || $3 == "required" { print $1 }')
# The installed closure of their Depends and Pre-Depends (virtual names come in <…>).
mapfile -t allowed < <(
  apt-cache depends --installed --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "${listed[@]}" "${base[@]}" 2>/dev/null |
    grep -v '^ ' | tr -d '<>' | sed 's/:.*//' | sort -u
)
declare -A is_allowed=()
for p in "${allowed[@]}" "${listed[@]}" "${base[@]}"; do is_allowed[$p]=1; done

# Checks that `path` is owned by an allowed package; `what` says where it was found.
check_owned() {
  local path=$1 what=$2 owners owner
  # Debian 12 merged /bin into /usr/bin, but dpkg may still know a file by its old name.
  if ! owners=$(dpkg -S "$path" 2>/dev/null) && ! owners=$(dpkg -S "${path#/usr}" 2>/dev/null); then
    if compgen -G "$path" >/dev/null; then
      fail "$path ($what) belongs to no Debian package: install it from a package in scripts/install-deps.sh"
    else
      fail "$path ($what) does not exist here: scripts/install-deps.sh installs nothing that creates it"
    fi
    return
  fi
  # "pkg1, pkg2:amd64: /path" (a directory can have several owners): one allowed owner is enough.
  for owner in $(printf '%s\n' "$owners" | sed 's/: .*//' | tr ',' ' '); do
    [ -n "${is_allowed[${owner%%:*}]:-}" ] && return
  done
  fail "$path ($what) belongs to $(printf '%s' "$owners" | sed 's/: .*//' | head -n 1 | tr -d '\n'), which scripts/install-deps.sh does not install"
}

# ---------------------------------------------------------------------------------------------
# 1. Absolute system paths written in the sources. A path counts where it starts a string, a
#    word or an assignment (so "../../etc/passwd", a test's bad input, is not one).

while IFS= read -r hit; do
  file=${hit%%:*}
  path=${hit#*:}
  path=${path#?}                 # the character before the path
  path=${path%%[\'\"\$]*}
  path=${path%/}
  # A glob stands for what it matches; dpkg -S takes the same pattern.
  check_owned "$path" "in $file"
done < <(grep -rHoE --include='*.rs' --include='*.sh' --include='*.toml' --include='run' \
  --exclude="$(basename "$self")" "(^|[\"' =(])/(usr|etc|opt|var|srv)/[A-Za-z0-9_.+*/-]+" "${sources[@]}" |
  sort -u)

# ---------------------------------------------------------------------------------------------
# 2. Programs started by name.

checked=0
# Checks the program `cmd`, found in `where`.
check_program() {
  local cmd=$1 where=$2
  printf '%s\n' "${baseline_commands[@]}" | grep -qx -- "$cmd" && return
  checked=$((checked + 1))
  local found
  # type -P: the program on PATH, not a shell builtin of the same name (kill).
  if ! found=$(type -P "$cmd"); then
    fail "the program $cmd ($where) is not installed: add its package to scripts/install-deps.sh"
    return
  fi
  check_owned "$(readlink -f "$found")" "the program $cmd, $where"
}

# Rust: Command::new with a literal program name.
for cmd in $(grep -rhoE --exclude="$(basename "$self")" 'Command::new\("[A-Za-z0-9_.+-]+"\)' "${sources[@]}" |
  sed -E 's/.*\("(.*)"\)/\1/' | sort -u); do
  check_program "$cmd" "started by Rust code"
done

# Shell: the first word of each command (after a line start, ;, |, &&, ||, $( or a keyword).
# A word there that is no program here may be an argument the rough parse caught, so only the
# programs found are checked. install-deps.sh is left out: it brings its own tools (apt, npm) or
# fails at once saying what to install.
shell_scripts=(scripts/*.sh .ci/run)
shell_functions=$(grep -hoE '^[a-z_]+\(\)' "${shell_scripts[@]}" | tr -d '()' | sort -u)
for script in "${shell_scripts[@]}"; do
  [ "$script" = scripts/install-deps.sh ] || [ "$script" = "$self" ] && continue
  for cmd in $(sed -E 's/(^|[[:space:]])#.*$//' "$script" |
    sed -E 's/(\$\(|\|\||&&|[;|({`]|\b(then|do|else|elif|if|while|until|time)\b|!)/\n/g' |
    sed -E 's/^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*=[^[:space:]]*[[:space:]]+)*//' |
    grep -oE '^[A-Za-z][A-Za-z0-9_.+-]*' | sort -u); do
    # Builtins, keywords and the scripts' own functions are not programs.
    [ "$(type -t "$cmd" 2>/dev/null || true)" = file ] || continue
    printf '%s\n' "$shell_functions" | grep -qx -- "$cmd" && continue
    check_program "$cmd" "run by $script"
  done
done

if [ ${#failures[@]} -gt 0 ]; then
  printf 'check-fresh-machine: %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "check-fresh-machine: every outside path and program comes from scripts/install-deps.sh ($checked program uses checked)"
