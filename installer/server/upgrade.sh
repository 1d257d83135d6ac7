#!/usr/bin/env bash
# Upgrade the library's schema after installing a new cadfinder version (back up first).
#   bash upgrade.sh 'postgresql://postgres@HOST/cadfinder?sslmode=verify-full' [--reindex]
# Migrations run in one transaction each under an advisory lock: apps that stay connected
# keep working; two admins upgrading at once do not collide.
set -euo pipefail
uri="$1"
cadfinder db status --db "$uri" | grep -E 'schema_version|latest'
cadfinder db migrate --db "$uri"
if [ "${2:-}" = "--reindex" ]; then   # only when the release notes say so (index parameters changed)
  cadfinder db reindex --db "$uri"
fi
