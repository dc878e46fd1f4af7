/* Migrations: drizzle-kit's journal and SQL files applied by the server itself, and the schema
 * version derived from what is applied.
 *
 * Compatibility with drizzle-kit migrate (drizzle-orm's pg migrator) is the invariant: the same
 * table drizzle.__drizzle_migrations(id serial, hash text, created_at bigint), one row per applied
 * migration with hash = sha256 hex of the .sql file and created_at = the journal's "when"; a
 * migration is applied when its "when" is later than the newest created_at; statements are split
 * on "--> statement-breakpoint". Either tool can therefore run after the other.
 */
#ifndef ESYNC_SERVER_MIGRATE_H
#define ESYNC_SERVER_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

/* The pg_advisory_xact_lock key every electric-sync migrator takes (an arbitrary constant). */
#define ESYNC_MIGRATE_LOCK_KEY "7311965522013"

typedef struct esync_migration {
    char *tag;      /* "0000_test_items" */
    long long when; /* the journal's "when" (ms since the epoch) */
    char *sql;      /* the file's bytes, NUL-terminated */
    size_t sql_len;
} esync_migration;

typedef struct esync_journal {
    esync_migration *entries;
    size_t count;
} esync_journal;

/* Parses the text of meta/_journal.json (no file access; the fuzzer runs it). Fills tag and when
 * only. Returns 0, or -1 with a message in err. Free with esync_journal_free. */
int esync_journal_parse(const char *text, size_t len, esync_journal *out, char *err, size_t errsz);

/* Reads dir/meta/_journal.json and every dir/<tag>.sql. Returns 0 or -1 (message in err). */
int esync_journal_load(const char *dir, esync_journal *out, char *err, size_t errsz);
void esync_journal_free(esync_journal *j);

/* Applies the pending migrations of dir on conn. Must run inside a transaction the caller opened
 * (it takes a transaction-scoped advisory lock so that two migrators never interleave); on error
 * the caller rolls back. *applied counts the migrations run. Returns 0, or -1 with a message. */
int esync_migrate_apply(PGconn *conn, const char *dir, int *applied, char *err, size_t errsz);

/* The schema version as JSON text {"version","hash","tables"} (malloc'ed), computed from what is
 * applied: version is the tag of the newest applied migration (its "when" when the journal in dir
 * does not know it; "none" before any), hash the sha256 over the applied migrations' hashes in
 * order, tables the tables of schema public as of the latest change of hash (cached per hash: a
 * table created outside the migrations shows up with the next migration). Returns NULL on a query
 * error, *res then holding the failed result, or NULL for a lost connection (caller clears it). */
char *esync_schema_version(PGconn *conn, const char *dir, PGresult **res);

#endif
