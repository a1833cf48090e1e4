#!/usr/bin/env bash
# Makes sure the browser the console's end-to-end tests drive is installed: Debian's `chromium`
# package (Playwright never downloads a browser here). As root on Debian it installs it;
# otherwise it says what to do and fails.
#
#   scripts/ensure_chromium.sh          # CHROMIUM_PATH overrides /usr/bin/chromium
set -euo pipefail

browser=${CHROMIUM_PATH:-/usr/bin/chromium}
if [[ -x $browser ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "error: no Chromium at $browser. Install Debian's package (apt-get install chromium)" \
        "or set CHROMIUM_PATH to a Chromium binary." >&2
    exit 1
fi
echo "installing Debian's chromium package for the console's browser tests"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[[ -x $browser ]] || { echo "error: chromium installed but $browser is missing" >&2; exit 1; }
