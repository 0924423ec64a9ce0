#!/usr/bin/env bash
# Keeper Security end to end against a real `vigil serve --tls-self-signed`: installs requests,
# aiosmtpd and trustme from PyPI into a virtual environment outside the clone and runs
# keeper_e2e.py, which starts the server, a webhook receiver and a STARTTLS SMTP server itself.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vigil="${VIGIL_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/vigil/target}/release/vigil}"
venv="${VIGIL_VENV:-$HOME/.cache/vigil/venv}"

[ -x "$vigil" ] || { echo "no vigil binary at $vigil (build it, or set VIGIL_BIN)" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

exec "$venv/bin/python" "$here/keeper_e2e.py" "$vigil"
