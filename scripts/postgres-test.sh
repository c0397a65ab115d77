#!/usr/bin/env bash
# Prepare a local PostgreSQL for the store tests, on Debian 12 as root:
# install it if missing, start the cluster, create role wh (password wh) and
# database wh_test, wait until it answers, and print the DSN as the last
# line of stdout. Everything else goes to stderr, so this works:
#
#   WH_TEST_DATABASE_URL=$(scripts/postgres-test.sh) go test ./internal/store/
#
# Safe to run repeatedly: each step only acts when needed.
set -euo pipefail

exec 3>&1 1>&2 # fd 3 is the real stdout, for the DSN only
# Every child that may outlive this script (the postgres daemon above all)
# must not inherit fd 3: `$(scripts/postgres-test.sh)` waits for the pipe
# behind it to close, so a daemon holding it would hang the caller forever.

if [ "$(id -u)" -ne 0 ]; then
	echo "postgres-test: must run as root (it may apt-get install and start the cluster)" >&2
	exit 1
fi

installed_version() {
	ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(installed_version)" ] || ! command -v pg_ctlcluster >/dev/null; then
	echo "postgres-test: installing postgresql" >&2
	export DEBIAN_FRONTEND=noninteractive
	# Try without refreshing the index first; update only if that fails.
	if ! apt-get install -y postgresql 3>&- </dev/null; then
		apt-get update 3>&- </dev/null
		apt-get install -y postgresql 3>&- </dev/null
	fi
fi

ver=$(installed_version)
if [ -z "$ver" ]; then
	echo "postgres-test: no PostgreSQL server found under /usr/lib/postgresql" >&2
	exit 1
fi

cluster_field() { # column of `pg_lsclusters` for $ver/main: 3 = port, 4 = status
	pg_lsclusters -h | awk -v v="$ver" -v f="$1" '$1 == v && $2 == "main" { print $f }'
}

if [ -z "$(cluster_field 3)" ]; then
	echo "postgres-test: creating cluster $ver/main" >&2
	pg_createcluster "$ver" main 3>&- </dev/null
fi
if [ "$(cluster_field 4)" != "online" ]; then
	echo "postgres-test: starting cluster $ver/main" >&2
	pg_ctlcluster --skip-systemctl-redirect "$ver" main start 3>&- </dev/null
fi
port=$(cluster_field 3)

for _ in $(seq 1 60); do
	if pg_isready -q -h 127.0.0.1 -p "$port"; then
		break
	fi
	sleep 0.5
done
if ! pg_isready -h 127.0.0.1 -p "$port" >&2; then
	echo "postgres-test: PostgreSQL $ver on port $port does not answer" >&2
	exit 1
fi

# psql as the postgres superuser over the local socket; run from / so it
# does not complain that it cannot read root's home.
as_postgres() {
	(cd / && runuser -u postgres -- psql -X -q -p "$port" -v ON_ERROR_STOP=1 "$@")
}

if [ "$(as_postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'wh'")" != "1" ]; then
	echo "postgres-test: creating role wh" >&2
	as_postgres -c "CREATE ROLE wh LOGIN CREATEDB PASSWORD 'wh'"
else
	# Repair a role left in another state by an earlier run or by hand.
	as_postgres -c "ALTER ROLE wh LOGIN CREATEDB PASSWORD 'wh'"
fi
if [ "$(as_postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'wh_test'")" != "1" ]; then
	echo "postgres-test: creating database wh_test" >&2
	as_postgres -c "CREATE DATABASE wh_test OWNER wh"
fi

dsn="postgres://wh:wh@127.0.0.1:$port/wh_test?sslmode=disable"
# Prove the DSN works with a password over TCP, as the tests will use it.
if ! PGPASSWORD=wh psql -X -q -h 127.0.0.1 -p "$port" -U wh -d wh_test -tAc 'SELECT 1' >/dev/null; then
	echo "postgres-test: cannot log in as wh over TCP (check pg_hba.conf)" >&2
	exit 1
fi
echo "postgres-test: ready: PostgreSQL $ver on port $port" >&2
echo "$dsn" >&3
