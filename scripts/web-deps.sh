#!/usr/bin/env bash
# Installs what the dashboard's checks need, and nothing that is already
# there: its npm packages (npm ci, from web/package-lock.json) and Debian's
# chromium for the browser end-to-end test (apt-get, as root). Never lets a
# tool download a browser of its own. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "web-deps: Node.js 20.19 or newer with npm is required to build and test the dashboard." >&2
  echo "web-deps: (the control plane itself does not need it: web/dist is committed and embedded)" >&2
  exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "web-deps: Node.js $(node --version) is too old; Vite needs 20.19 or newer." >&2
  exit 1
fi

if [ ! -x "${WH_CHROMIUM:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "web-deps: installing chromium (Debian's, for the browser end-to-end test)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq chromium >/dev/null; then
      apt-get update -qq
      apt-get install -y -qq chromium >/dev/null
    fi
  else
    echo "web-deps: chromium is missing and cannot be installed here (not root); the browser test will skip locally." >&2
  fi
fi

cd web
# npm ci again only when the lock file changed since the last install, or
# when asked for a clean install (make web-check does).
stamp=node_modules/.wh-package-lock.json
if [ "${WEB_DEPS_CLEAN:-}" != 1 ] && [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
  exit 0
fi
# playwright-core has no install step that fetches browsers; this keeps
# any other package from trying.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json "$stamp"
