#!/usr/bin/env bash
# Turn this machine into a hot standby of the cadfinder primary (Debian 12 / Ubuntu 24.04, as root).
#   bash standby.sh PRIMARY_HOST SLOT [PG_MAJOR]        e.g. bash standby.sh db1.example.com standby1
# Before: on the primary, replication.sql created the replicator login and the slot, and its
# pg_hba.conf lets this machine in:  hostssl replication replicator STANDBY_IP/32 scram-sha-256
# PostgreSQL and pgvector are installed as setup.sh does (same major version as the primary).
# The standby's own data directory is replaced by a copy of the primary's (pg_basebackup -R
# writes standby.signal and primary_conninfo); it then streams WAL through the slot and serves
# reads: the HNSW indexes arrive with the rows.
set -euo pipefail
primary="$1"; slot="$2"; PG="${3:-17}"
here="$(cd "$(dirname "$0")" && pwd)"
data="/var/lib/postgresql/$PG/main"
apt-get install -y postgresql-common
/usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y
apt-get install -y "postgresql-$PG" "postgresql-$PG-pgvector"
conf="/etc/postgresql/$PG/main"
install -m 644 -o postgres "$here/postgresql.cadfinder.conf" "$conf/conf.d/cadfinder.conf"
install -m 640 -o postgres "$here/pg_hba.cadfinder.conf" "$conf/pg_hba.conf"
read -r -s -p "password of the replicator login on $primary: " PGPASSWORD; echo
export PGPASSWORD
systemctl stop "postgresql@$PG-main"
mv "$data" "$data.before-standby.$(date +%s)"
sudo -u postgres --preserve-env=PGPASSWORD pg_basebackup -d \
  "host=$primary user=replicator sslmode=verify-full application_name=$slot" \
  -D "$data" -X stream -S "$slot" -R -P
echo "copy the server's TLS certificate and key to $data/server.crt / server.key before clients connect"
systemctl start "postgresql@$PG-main"
sudo -u postgres psql -tAc "SELECT 'standby: ' || pg_is_in_recovery()"
