#!/usr/bin/env bash
# The dashboard's checks: install its packages (and chromium, for the browser
# test that `make unit` runs), type-check, run the component tests, rebuild
# web/dist, and fail if the committed build differs from what its sources
# build (the Go binary embeds web/dist, so it must never go stale).
set -euo pipefail
cd "$(dirname "$0")/.."
WEB_DEPS_CLEAN=1 scripts/web-deps.sh
cd web
echo "web-check: type check"
npx --no-install tsc --noEmit -p .
echo "web-check: component tests"
npx --no-install vitest run
echo "web-check: build"
npx --no-install vite build --logLevel warn
cd ..
changed=$(git status --porcelain -- web/dist)
if [ -n "$changed" ]; then
  echo "web-check: web/dist does not match its sources. Rebuild it (make web-build) and commit web/dist:" >&2
  echo "$changed" >&2
  exit 1
fi
echo "web-check: ok (web/dist matches its sources)"
