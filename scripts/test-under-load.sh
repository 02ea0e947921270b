#!/usr/bin/env bash
# The README's test command (scripts/test.sh, extra arguments passed on) on a machine busy with
# other work: two CPU hogs run beside it for the whole run, so a test that relies on timing
# instead of waiting on a condition fails here first rather than on CI. At the end it names each
# failed test with its FAULTS_SEED lines, its panic and where it kept its artefacts, and the
# total time; it exits with the tests' status.
#
#   scripts/test-under-load.sh                       the whole suite
#   scripts/test-under-load.sh --test faults keep    one binary, one filter
#
# The hogs are plain shell busy loops at normal priority, not `nice`d: the other jobs of a CI
# machine compete on equal terms, while a niced hog yields almost all of its CPU to the tests
# and would leave the machine nearly idle for them. Two hogs on a two-core machine means the
# tests, their Postgres, Chromium and worker processes get about half of what they would alone.
#
# The whole output is kept in $UNDER_LOAD_LOG (default: a new file under the temp directory).
set -euo pipefail
cd "$(dirname "$0")/.."

log=${UNDER_LOAD_LOG:-$(mktemp "${TMPDIR:-/tmp}/test-under-load.XXXXXX.log")}
hogs=()
stop_hogs() {
  [ ${#hogs[@]} -eq 0 ] || kill "${hogs[@]}" 2>/dev/null || true
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM
for _ in 1 2; do
  (while :; do :; done) &
  hogs+=($!)
done
echo "test-under-load: 2 CPU hogs (pids ${hogs[*]}) beside ./scripts/test.sh $*; output in $log" >&2

started=$(date +%s)
status=0
./scripts/test.sh "$@" 2>&1 | tee "$log" || status=$?
elapsed=$(($(date +%s) - started))
stop_hogs
hogs=()

# libtest prints each failed test's captured output under "---- <name> stdout ----" before the
# list of names; cargo names the binary on the "Running" line before it.
echo
echo "=== test-under-load: summary"
awk '
  /^ *Running / { binary = $2; if (binary == "unittests") binary = $3 }
  /^ *Doc-tests / { binary = "doc-tests " $2 }
  /^---- .* stdout ----$/ { inside = 1; print "FAILED " binary ": " $2; next }
  /^failures:$/ { inside = 0 }
  inside && /FAULTS_SEED=|artefacts/ { print "    " $0 }
  inside && / panicked at / { print "    " $0; want_message = 1; next }
  inside && want_message { print "    " $0; want_message = 0 }
  /^test result: / { passed += $4; failed += $6; ignored += $8 }
  END { printf "%d passed, %d failed, %d ignored\n", passed, failed, ignored }
' "$log"
echo "total time: $((elapsed / 60)) min $((elapsed % 60)) s, exit status $status; full output in $log"
exit "$status"
