# PostgreSQL 15 for the store, queue and API tests that run on both databases.
# Sourced by scripts/setup_test_env.sh (apt_install and $SUDO come from there).
#
# A cluster of its own ("netadapt_test", port 55432, loopback only), so a PostgreSQL the
# machine already runs on 5432 is left alone. Tuned for throwaway test data: no fsync.
# The tests connect with the URL below (override with NETADAPT_TEST_POSTGRES_URL) and
# create one database per test or test module as role "netadapt" (CREATEDB).
# Idempotent: an existing cluster, role or database is reused; a running cluster is
# left running.

apt_install postgresql-15 postgresql-client-15

_PG_VERSION=15
_PG_CLUSTER=netadapt_test
_PG_PORT=55432

_as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$_PG_VERSION $_PG_CLUSTER"; then
  $SUDO pg_createcluster "$_PG_VERSION" "$_PG_CLUSTER" --port "$_PG_PORT" >/dev/null
fi
$SUDO tee "/etc/postgresql/$_PG_VERSION/$_PG_CLUSTER/conf.d/netadapt-test.conf" >/dev/null <<'CONF'
listen_addresses = '127.0.0.1'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
if ! pg_lsclusters -h | awk -v v="$_PG_VERSION" -v c="$_PG_CLUSTER" '$1==v && $2==c {print $4}' | grep -qx online; then
  if ! $SUDO pg_ctlcluster "$_PG_VERSION" "$_PG_CLUSTER" start; then
    # A server killed with its machine session leaves postmaster.pid behind; if that
    # pid now belongs to another process, PostgreSQL refuses to start. Nothing of ours
    # runs on the cluster at this point, so the file is stale: remove it and retry.
    $SUDO rm -f "/var/lib/postgresql/$_PG_VERSION/$_PG_CLUSTER/postmaster.pid"
    $SUDO pg_ctlcluster "$_PG_VERSION" "$_PG_CLUSTER" start
  fi
fi
for _ in $(seq 50); do
  pg_isready -q -h 127.0.0.1 -p "$_PG_PORT" && break
  sleep 0.2
done
pg_isready -q -h 127.0.0.1 -p "$_PG_PORT" || { echo "postgres.sh: the test cluster did not start" >&2; exit 1; }

_as_postgres psql -q -p "$_PG_PORT" -v ON_ERROR_STOP=1 <<'SQL'
SELECT 'CREATE ROLE netadapt LOGIN CREATEDB PASSWORD ''netadapt'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'netadapt')\gexec
SELECT 'CREATE DATABASE netadapt_test OWNER netadapt'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'netadapt_test')\gexec
-- DROP DATABASE ... WITH (FORCE) of a test database must be able to end an autovacuum
-- worker that happens to be in it.
GRANT pg_signal_backend TO netadapt;
SQL
unset _PG_VERSION _PG_CLUSTER _PG_PORT
