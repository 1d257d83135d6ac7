#!/usr/bin/env bash
# Restore a dump from backup.sh into a new (empty) database, then bring its schema up to date.
#   bash restore.sh DUMP 'postgresql://postgres@HOST/cadfinder_restored?sslmode=verify-full'
# Create the target first (CREATE DATABASE cadfinder_restored); the cadfinder roles must exist
# on the server (they do once any library there has seen `cadfinder db init`).
set -euo pipefail
dump="$1"; uri="$2"
pg_restore --no-owner --exit-on-error --dbname="$uri" "$dump"
cadfinder db migrate --db "$uri"
cadfinder db status --db "$uri"
