#!/usr/bin/env bash
# Stand up a shared cadfinder library on Debian 12 / Ubuntu 24.04 (run as root).
#   bash setup.sh [PG_MAJOR]          default PG_MAJOR=17
# Installs PostgreSQL and pgvector from the PostgreSQL project's apt repository (PGDG),
# applies postgresql.cadfinder.conf and pg_hba.cadfinder.conf, creates the database, and
# prepares it with the app's own migrations (roles, schema, HNSW indexes).
set -euo pipefail
PG="${1:-17}"
here="$(cd "$(dirname "$0")" && pwd)"
apt-get install -y postgresql-common
/usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y
apt-get install -y "postgresql-$PG" "postgresql-$PG-pgvector"
conf="/etc/postgresql/$PG/main"
install -m 644 -o postgres "$here/postgresql.cadfinder.conf" "$conf/conf.d/cadfinder.conf"
cp "$conf/pg_hba.conf" "$conf/pg_hba.conf.before-cadfinder"
install -m 640 -o postgres "$here/pg_hba.cadfinder.conf" "$conf/pg_hba.conf"
if [ ! -f "/var/lib/postgresql/$PG/main/server.crt" ]; then
  echo "put the server's TLS certificate and key in /var/lib/postgresql/$PG/main/server.crt / server.key" >&2
  echo "(a CA-signed certificate for the name designers connect to), then re-run" >&2
  exit 1
fi
systemctl restart "postgresql@$PG-main"
# Re-running is fine: an existing database is kept; any other failure stops here with its message.
if ! sudo -u postgres psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'cadfinder'" | grep -q 1; then
  sudo -u postgres psql -v ON_ERROR_STOP=1 -c "CREATE DATABASE cadfinder"
fi
echo "now, from any machine with cadfinder installed (as the database owner):"
echo "  PGPASSWORD=... cadfinder db init --db 'postgresql://postgres@HOST/cadfinder?sslmode=verify-full'"
echo "and create personal logins:  psql -d cadfinder -v login=alice -v role=cadfinder_designer -v password=... -f $here/logins.sql"
