#!/usr/bin/env bash
# The end-to-end tests against a real `vigil serve --tls-self-signed`: installs requests,
# aiosmtpd and trustme from PyPI into a virtual environment outside the clone and runs
# keeper_e2e.py (the Keeper pack: events to incidents, playbooks, Defender APIs, restart) and
# solutions_e2e.py (Sentinel solutions imported as shipped, their alerts raised), which start
# the server, a webhook receiver and a STARTTLS SMTP server themselves.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vigil="${VIGIL_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/vigil/target}/release/vigil}"
venv="${VIGIL_VENV:-$HOME/.cache/vigil/venv}"
conformance="${VIGIL_CONFORMANCE_DIR:-$here/../../../shared/conformance}"

[ -x "$vigil" ] || { echo "no vigil binary at $vigil (build it, or set VIGIL_BIN)" >&2; exit 1; }
[ -d "$conformance/sentinel" ] || { echo "no Sentinel content at $conformance (set VIGIL_CONFORMANCE_DIR)" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

"$venv/bin/python" "$here/keeper_e2e.py" "$vigil"
"$venv/bin/python" "$here/solutions_e2e.py" "$vigil" "$conformance"
