#!/usr/bin/env bash
# Schema and migrations (drizzle-kit), against DATABASE_URL or the checkout's private cluster.
#
#   usage: scripts/db.sh generate [drizzle-kit args]   new SQL migration in db/migrations/ from db/schema/*.ts
#          scripts/db.sh migrate                        apply pending migrations (starts the cluster if needed)
#          scripts/db.sh url                            print the connection string in use, nothing else
#
# `migrate` uses drizzle-kit migrate, which records each applied migration (sha256 of its file,
# the journal's `when`) in drizzle.__drizzle_migrations; the server's own migrator
# (src/server/api/migrate.c, used by POST /api/dev/reset) follows the same rules on the same table,
# so either can run after the other.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmd=${1:-}
[ $# -gt 0 ] && shift

need_node_modules() {
    # npm run db:* may be the first command on a fresh clone.
    if [ ! -x node_modules/.bin/drizzle-kit ] || [ ! -d node_modules/pg ]; then
        npm ci --no-audit --no-fund --loglevel=error >&2
    fi
}

database_url() {
    if [ -n "${DATABASE_URL:-}" ]; then
        echo "$DATABASE_URL"
    else
        bash scripts/pg.sh start >&2
        bash scripts/pg.sh url
    fi
}

case "$cmd" in
    url)
        database_url
        ;;
    generate)
        need_node_modules
        # generate reads only the schema files; it never connects.
        DATABASE_URL=${DATABASE_URL:-unused} node_modules/.bin/drizzle-kit generate "$@"
        ;;
    migrate)
        need_node_modules
        url=$(database_url)
        DATABASE_URL=$url node_modules/.bin/drizzle-kit migrate "$@" >&2
        ;;
    *)
        echo "usage: scripts/db.sh generate|migrate|url" >&2; exit 2 ;;
esac
