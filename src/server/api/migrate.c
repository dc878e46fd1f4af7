/* drizzle-compatible migrator and schema version (see migrate.h). Migration SQL is trusted
 * project code and runs through PQexec; every value that varies (hash, when) is a parameter. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* PATH_MAX */
#endif
#include "api/migrate.h"

#include <cJSON.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define BREAKPOINT "--> statement-breakpoint"

/* read_file's buffer: it starts at READ_INITIAL_CAP bytes (a journal, a migration's SQL) and
 * doubles whenever less than READ_MIN_ROOM (a page) is free, so that every fread asks for at
 * least a page. */
#define READ_INITIAL_CAP 8192
#define READ_MIN_ROOM 4096

static bool tag_ok(const char *t) {
    /* The tag becomes a file name: allow only what drizzle-kit generates. */
    if (!*t || strlen(t) > 200) return false;
    for (const char *p = t; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

int esync_journal_parse(const char *text, size_t len, esync_journal *out, char *err, size_t errsz) {
    memset(out, 0, sizeof *out);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        snprintf(err, errsz, "_journal.json is not valid JSON");
        return -1;
    }
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(root, "entries");
    if (!cJSON_IsArray(entries)) {
        snprintf(err, errsz, "_journal.json has no \"entries\" array");
        cJSON_Delete(root);
        return -1;
    }
    int n = cJSON_GetArraySize(entries);
    out->entries = esync__xcalloc((size_t)n, sizeof *out->entries);
    const cJSON *e;
    cJSON_ArrayForEach(e, entries) {
        const cJSON *tag = cJSON_GetObjectItemCaseSensitive(e, "tag");
        const cJSON *when = cJSON_GetObjectItemCaseSensitive(e, "when");
        if (!cJSON_IsString(tag) || !tag_ok(tag->valuestring) || !cJSON_IsNumber(when) ||
            !isfinite(when->valuedouble) || when->valuedouble < 0 || when->valuedouble > 9e15 ||
            when->valuedouble != floor(when->valuedouble)) {
            snprintf(err, errsz, "_journal.json entry %zu: bad \"tag\" or \"when\"", out->count);
            cJSON_Delete(root);
            esync_journal_free(out);
            return -1;
        }
        esync_migration *m = &out->entries[out->count++];
        m->tag = esync__xstrdup(tag->valuestring);
        m->when = (long long)when->valuedouble;
    }
    cJSON_Delete(root);
    return 0;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < READ_MIN_ROOM) {
            cap = cap ? cap * 2 : READ_INITIAL_CAP;
            buf = esync__xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int esync_journal_load(const char *dir, esync_journal *out, char *err, size_t errsz) {
    char path[PATH_MAX];
    size_t len;
    snprintf(path, sizeof path, "%s/meta/_journal.json", dir);
    char *text = read_file(path, &len);
    if (!text) {
        snprintf(err, errsz, "cannot read %s", path);
        memset(out, 0, sizeof *out);
        return -1;
    }
    int rc = esync_journal_parse(text, len, out, err, errsz);
    free(text);
    if (rc != 0) return -1;
    for (size_t i = 0; i < out->count; i++) {
        esync_migration *m = &out->entries[i];
        snprintf(path, sizeof path, "%s/%s.sql", dir, m->tag);
        m->sql = read_file(path, &m->sql_len);
        if (!m->sql) {
            snprintf(err, errsz, "cannot read %s", path);
            esync_journal_free(out);
            return -1;
        }
    }
    return 0;
}

void esync_journal_free(esync_journal *j) {
    for (size_t i = 0; i < j->count; i++) {
        free(j->entries[i].tag);
        free(j->entries[i].sql);
    }
    free(j->entries);
    memset(j, 0, sizeof *j);
}

/* Runs one statement without parameters; fills err on failure. */
static int exec_plain(PGconn *conn, const char *sql, char *err, size_t errsz) {
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        snprintf(err, errsz, "%s", PQresultErrorMessage(res));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* Executes the statements of one migration file, split at drizzle's breakpoints. */
static int exec_migration(PGconn *conn, const esync_migration *m, char *err, size_t errsz) {
    const char *p = m->sql;
    for (;;) {
        const char *bp = strstr(p, BREAKPOINT);
        size_t n = bp ? (size_t)(bp - p) : strlen(p);
        char *stmt = esync__xstrndup(p, n);
        int rc = exec_plain(conn, stmt, err, errsz);
        free(stmt);
        if (rc != 0) return -1;
        if (!bp) return 0;
        p = bp + strlen(BREAKPOINT);
    }
}

int esync_migrate_apply(PGconn *conn, const char *dir, int *applied, char *err, size_t errsz) {
    *applied = 0;
    esync_journal j;
    if (esync_journal_load(dir, &j, err, errsz) != 0) return -1;
    int rc = -1;
    PGresult *res = NULL;
    if (exec_plain(conn, "SELECT pg_advisory_xact_lock(" ESYNC_MIGRATE_LOCK_KEY ")", err, errsz) !=
            0 ||
        exec_plain(conn, "CREATE SCHEMA IF NOT EXISTS \"drizzle\"", err, errsz) != 0 ||
        exec_plain(conn,
                   "CREATE TABLE IF NOT EXISTS \"drizzle\".\"__drizzle_migrations\" ("
                   "id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)",
                   err, errsz) != 0)
        goto out;
    res = PQexec(conn, "SELECT created_at FROM \"drizzle\".\"__drizzle_migrations\" "
                       "ORDER BY created_at DESC LIMIT 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "%s", PQresultErrorMessage(res));
        goto out;
    }
    bool have_last = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
    long long last = have_last ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    res = NULL;
    for (size_t i = 0; i < j.count; i++) {
        const esync_migration *m = &j.entries[i];
        if (have_last && m->when <= last) continue;
        if (exec_migration(conn, m, err, errsz) != 0) {
            size_t k = strlen(err);
            snprintf(err + k, errsz - k, " (in migration %s)", m->tag);
            goto out;
        }
        /* The file's bytes go in binary so the hash is over exactly what drizzle-kit hashes. */
        char when[32];
        snprintf(when, sizeof when, "%lld", m->when);
        const char *vals[2] = {m->sql, when};
        int lens[2] = {(int)m->sql_len, 0};
        int fmts[2] = {1, 0};
        Oid types[2] = {17 /* bytea */, 20 /* int8 */};
        res = PQexecParams(conn,
                           "INSERT INTO \"drizzle\".\"__drizzle_migrations\" (hash, created_at) "
                           "VALUES (encode(sha256($1), 'hex'), $2)",
                           2, types, vals, lens, fmts, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(err, errsz, "%s", PQresultErrorMessage(res));
            goto out;
        }
        PQclear(res);
        res = NULL;
        (*applied)++;
    }
    rc = 0;
out:
    PQclear(res);
    esync_journal_free(&j);
    return rc;
}

/* Caches for the version endpoint, which is hot while what it reports changes only with a
 * migration: the tag of the newest migration (from the journal file) and the table list (a scan
 * of pg_class, the most expensive part of the answer), both keyed by what they derive from. */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static long long tag_when = -1;
static char tag_text[256];
static char tables_hash[80];
static char *tables_json;

static void tag_for(const char *dir, long long when, char *out, size_t n) {
    pthread_mutex_lock(&cache_mu);
    if (tag_when != when) {
        esync_journal j;
        char err[256];
        char path[PATH_MAX];
        size_t len;
        snprintf(tag_text, sizeof tag_text, "%lld", when);
        snprintf(path, sizeof path, "%s/meta/_journal.json", dir);
        char *text = read_file(path, &len);
        if (text && esync_journal_parse(text, len, &j, err, sizeof err) == 0) {
            for (size_t i = 0; i < j.count; i++)
                if (j.entries[i].when == when)
                    snprintf(tag_text, sizeof tag_text, "%s", j.entries[i].tag);
            esync_journal_free(&j);
        }
        free(text);
        tag_when = when;
    }
    snprintf(out, n, "%s", tag_text);
    pthread_mutex_unlock(&cache_mu);
}

/* The tables of schema public as a JSON array, recomputed when the migrations hash changes. Only
 * a result seen outside a transaction is cached: one inside may still roll back. */
static char *tables_for(PGconn *conn, const char *hash, PGresult **fail) {
    pthread_mutex_lock(&cache_mu);
    char *cached = tables_json && strcmp(tables_hash, hash) == 0 ? esync__xstrdup(tables_json)
                                                                 : NULL;
    pthread_mutex_unlock(&cache_mu);
    if (cached) return cached;
    PGresult *res = PQexec(conn, "SELECT coalesce(json_agg(relname ORDER BY relname), '[]')::text "
                                 "FROM pg_class WHERE relnamespace = to_regnamespace('public') "
                                 "AND relkind IN ('r', 'p')");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        *fail = res;
        return NULL;
    }
    char *json = esync__xstrdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (PQtransactionStatus(conn) == PQTRANS_IDLE && strlen(hash) < sizeof tables_hash) {
        pthread_mutex_lock(&cache_mu);
        free(tables_json);
        tables_json = esync__xstrdup(json);
        snprintf(tables_hash, sizeof tables_hash, "%s", hash);
        pthread_mutex_unlock(&cache_mu);
    }
    return json;
}

char *esync_schema_version(PGconn *conn, const char *dir, PGresult **out_res) {
    *out_res = NULL;
    /* One round trip in the common case; before any migration the table (or its schema) does not
     * exist, which outside a transaction is a harmless error to recover from. */
    PGresult *res = PQexec(conn,
                           "SELECT max(created_at)::text, encode(sha256(convert_to(coalesce("
                           "string_agg(hash, ',' ORDER BY created_at, id), ''), 'UTF8')), 'hex') "
                           "FROM \"drizzle\".\"__drizzle_migrations\"");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool missing = st && (strcmp(st, "42P01") == 0 || strcmp(st, "3F000") == 0);
        if (!missing || PQtransactionStatus(conn) != PQTRANS_IDLE) {
            *out_res = res;
            return NULL;
        }
        PQclear(res);
        res = PQexec(conn, "SELECT NULL::text, encode(sha256(''::bytea), 'hex')");
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        *out_res = res;
        return NULL;
    }
    char version[256];
    if (PQgetisnull(res, 0, 0))
        snprintf(version, sizeof version, "none");
    else
        tag_for(dir, strtoll(PQgetvalue(res, 0, 0), NULL, 10), version, sizeof version);
    char *hash = esync__xstrdup(PQgetvalue(res, 0, 1));
    PQclear(res);
    char *tables = tables_for(conn, hash, out_res);
    if (!tables) {
        free(hash);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", version);
    cJSON_AddStringToObject(o, "hash", hash);
    cJSON *list = cJSON_Parse(tables);
    cJSON_AddItemToObject(o, "tables", list ? list : cJSON_CreateArray());
    free(tables);
    free(hash);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!json) {
        fprintf(stderr, "electric-sync-server: out of memory (version)\n");
        abort();
    }
    return json;
}
