#!/usr/bin/env bash
# Make sure a headless Chromium is here for the report's browser test
# (tests/trace/test_report_browser.py). Idempotent: does nothing when /usr/bin/chromium (or
# $TANDEM_CHROMIUM) is already there. Installs Debian's chromium with apt-get, non-interactive,
# on Linux with apt-get (as root, or with passwordless sudo). Elsewhere it says so and exits 0
# (the test is then skipped), except under CI (CI=true), where a missing browser fails.
set -euo pipefail
for c in "${TANDEM_CHROMIUM:-}" /usr/bin/chromium; do
  if [ -n "$c" ] && [ -x "$c" ]; then
    echo "browser: $c"
    exit 0
  fi
done
missing() {
  if [ "${CI:-}" = true ]; then
    echo "browser.sh: $1; CI=true needs Chromium for the report's browser test" >&2
    exit 1
  fi
  echo "browser.sh: $1; the report's browser test will be skipped"
  exit 0
}
[ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null || missing "no apt-get here"
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  missing "not root and no passwordless sudo to apt-get install chromium"
fi
echo "browser: installing Debian's chromium (apt-get)"
export DEBIAN_FRONTEND=noninteractive
if ! { "${SUDO[@]}" apt-get update -qq &&
       "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
  missing "apt-get install chromium failed"
fi
[ -x /usr/bin/chromium ] || missing "apt-get installed no /usr/bin/chromium"
echo "browser: /usr/bin/chromium ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
