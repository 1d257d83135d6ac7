#!/usr/bin/env bash
# Nightly backup of the library (parts, genomes, vectors, thumbnails) as a custom-format dump.
#   bash backup.sh 'postgresql://postgres@HOST/cadfinder?sslmode=verify-full' /backups   (PGPASSWORD or ~/.pgpass)
# Keeps the last 14 dumps. HNSW indexes are rebuilt on restore (their definitions are in the dump).
set -euo pipefail
uri="$1"; dir="${2:-.}"
mkdir -p "$dir"
out="$dir/cadfinder-$(date +%Y%m%d-%H%M%S).dump"
pg_dump --format=custom --compress=6 --file="$out.partial" "$uri"
mv "$out.partial" "$out"
ls -1t "$dir"/cadfinder-*.dump | tail -n +15 | xargs -r rm --
echo "$out"
