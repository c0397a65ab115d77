#!/usr/bin/env bash
# Installs what `make test` needs on a Debian 12 machine, and nothing that is
# already there. Safe to run again.
set -euo pipefail

need_go="1.26"
if ! command -v go >/dev/null 2>&1; then
  echo "test-deps: Go $need_go or newer is required (expected at /usr/local/go/bin/go)." >&2
  exit 1
fi
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need_go" "$have" | sort -V | head -n1)" != "$need_go" ]; then
  echo "test-deps: Go $have is too old; need $need_go or newer." >&2
  exit 1
fi

# Debian packages the tests use: git (and its http-backend) for clones,
# podman with runc for real containers (crun fails on hybrid-cgroup hosts),
# busybox-static for the locally built base image, iproute2 for ss and tc.
missing=()
for pair in git:git podman:podman runc:runc busybox:busybox-static ss:iproute2 nsenter:util-linux; do
  tool=${pair%%:*} pkg=${pair#*:}
  command -v "$tool" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: missing ${missing[*]}; run as root or install them." >&2
    exit 1
  fi
  echo "test-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "${missing[@]}"; then
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}"
  fi
fi

go mod download
