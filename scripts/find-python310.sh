#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter, or explains how to get one and fails.
# Rasa 3.6 supports Python 3.8-3.10 only; the machine's default python3 may be newer.
set -euo pipefail
candidates=()
[ -n "${PYTHON310:-}" ] && candidates+=("$PYTHON310")
command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for dir in "$root"/versions/3.10.*; do [ -x "$dir/bin/python" ] && candidates+=("$dir/bin/python"); done
fi
for dir in "$HOME"/.pyenv/versions/3.10.* /usr/local/bin /usr/bin; do
  [ -x "$dir/bin/python" ] && candidates+=("$dir/bin/python")
  [ -x "$dir/python3.10" ] && candidates+=("$dir/python3.10")
done
for python in "${candidates[@]}"; do
  if "$python" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
    echo "$python"; exit 0
  fi
done
cat >&2 <<'MSG'
error: Python 3.10 was not found (Rasa 3.6 does not run on 3.11 or newer).
Install it, for example with pyenv:   pyenv install 3.10.13
or point the build at one:            make PYTHON310=/path/to/python3.10 ...
MSG
exit 1
