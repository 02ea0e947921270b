#!/usr/bin/env bash
# Prints the directory of the 8 kHz telephone speech prompts that the demo, the tests and the
# benches record their calls from. The one place that knows where the speech lives: it asks dpkg
# where the package `scripts/install-deps.sh` installs put its WAV files, so no path that another
# package (or a Recommends) would create is ever assumed.
set -euo pipefail

package=asterisk-core-sounds-en-wav
if ! files=$(dpkg -L "$package" 2>/dev/null); then
  echo "speech-dir: $package is not installed; run scripts/install-deps.sh" >&2
  exit 1
fi
first_wav=$(printf '%s\n' "$files" | grep '\.wav$' | head -n 1 || true)
if [ -z "$first_wav" ] || [ ! -f "$first_wav" ]; then
  echo "speech-dir: $package lists no WAV file on disk; reinstall it (apt-get install --reinstall $package)" >&2
  exit 1
fi
dirname "$first_wav"
