/* Shape snapshots (see snapshot.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shape/snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "sbuf.h"

int esync__snapshot_info_parse(const char *text, esync_snapinfo *s) {
    memset(s, 0, sizeof *s);
    char *end;
    errno = 0;
    s->xmin = strtoull(text, &end, 10);
    if (*end != ':') return -1;
    s->xmax = strtoull(end + 1, &end, 10);
    if (*end != ':' || errno) return -1;
    const char *p = end + 1;
    while (*p) {
        uint64_t x = strtoull(p, &end, 10);
        if (end == p) break;
        s->xip = esync__xrealloc(s->xip, (size_t)(s->nxip + 1) * sizeof *s->xip);
        s->xip[s->nxip++] = x;
        p = end;
        if (*p == ',') p++;
    }
    return *p ? -1 : 0;
}

void esync__snapshot_info_free(esync_snapinfo *s) {
    free(s->xip);
    s->xip = NULL;
    s->nxip = 0;
}

static bool xid_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }

bool esync__snapshot_visible(const esync_snapinfo *s, uint32_t xid) {
    if (xid_lt(xid, (uint32_t)s->xmin)) return true;
    if (!xid_lt(xid, (uint32_t)s->xmax)) return false;
    for (int i = 0; i < s->nxip; i++)
        if ((uint32_t)s->xip[i] == xid) return false;
    return true;
}

bool esync__snapshot_past(const esync_snapinfo *s, uint32_t xid) {
    return !xid_lt(xid, (uint32_t)s->xmax);
}

char *esync__snapshot_end_json(const esync_snapinfo *info) {
    esync_sb b = {0};
    esync__sb_printf(&b,
                     "{\"headers\":{\"control\":\"snapshot-end\",\"xmin\":\"%" PRIu64
                     "\",\"xmax\":\"%" PRIu64 "\",\"xip_list\":[",
                     info->xmin, info->xmax);
    for (int i = 0; i < info->nxip; i++)
        esync__sb_printf(&b, "%s\"%" PRIu64 "\"", i ? "," : "", info->xip[i]);
    esync__sb_puts(&b, "]}}");
    return esync__sb_take(&b, NULL);
}

static int fail(PGconn *conn, PGresult *res, bool *lost, char *err, size_t errsz,
                const char *what) {
    snprintf(err, errsz, "%s: %s", what, PQerrorMessage(conn));
    size_t n = strlen(err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' ')) err[--n] = '\0';
    PQclear(res);
    *lost = PQstatus(conn) != CONNECTION_OK;
    if (!*lost) {
        /* drain whatever is left of a single-row-mode query, then roll back */
        PGresult *r;
        while ((r = PQgetResult(conn)) != NULL) PQclear(r);
        PQclear(PQexec(conn, "ROLLBACK"));
    }
    return -1;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int64_t esync__snapshot_plan_rows(const char *explain_json) {
    const char *p = explain_json ? strstr(explain_json, "\"Plan Rows\":") : NULL;
    if (!p) return -1;
    p += strlen("\"Plan Rows\":");
    while (*p == ' ') p++;
    char *end;
    double v = strtod(p, &end);
    if (end == p || v < 0 || v > 9e18) return -1;
    return (int64_t)v;
}

/* Whether the snapshot is read in primary key order: a table with a key, and a shape without a
 * where clause or one that keeps at least a quarter of the table's rows (planner estimates,
 * `est` the shape's): walking the whole key index then costs little more than reading the
 * table, where a selective shape would read a large table for a few rows. */
static int64_t plan_rows(PGconn *conn, const char *sql, int nw, const char *const *wvals);
static bool key_order(PGconn *conn, const esync_shape_view *v, int64_t est) {
    const esync_table *t = v->t;
    if (t->npk <= 0) return false;
    if (!v->where) return true;
    if (est < 0) return false;
    esync_sb q = {0};
    esync__sb_printf(&q, "SELECT 1 FROM %s", t->qname);
    int64_t all = plan_rows(conn, q.p, 0, NULL);
    esync__sb_free(&q);
    return all >= 0 && est * 4 >= all;
}

/* The planner's estimate of the rows the snapshot query returns, or -1. Never fails the
 * snapshot: an error here is rolled back to a savepoint. */
static int64_t plan_rows(PGconn *conn, const char *sql, int nw, const char *const *wvals) {
    PGresult *res = PQexec(conn, "SAVEPOINT esync_estimate");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) return -1;
    esync_sb q = {0};
    esync__sb_puts(&q, "EXPLAIN (FORMAT JSON) ");
    esync__sb_puts(&q, sql);
    res = PQexecParams(conn, q.p, nw, NULL, wvals, NULL, NULL, 0);
    esync__sb_free(&q);
    int64_t n = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) >= 1)
        n = esync__snapshot_plan_rows(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQclear(PQexec(conn, n < 0 ? "ROLLBACK TO SAVEPOINT esync_estimate"
                               : "RELEASE SAVEPOINT esync_estimate"));
    return n;
}

/* Built-in types whose text output is what `::text` gives them (an I/O conversion or a binary
 * coercion in pg_cast): selected as they are, which spares Postgres the cast's copy of every
 * value. bool, bpchar, "char", name, inet and cidr have cast functions of their own, and every
 * other type (arrays, domains, enums, extensions' types) keeps `::text` (docs/protocol.md
 * §2.4.1). By OID: a type of the same name in another schema is not one of these. */
static bool output_is_text(uint32_t oid) {
    switch (oid) {
    case 17:   /* bytea */
    case 20:   /* int8 */
    case 21:   /* int2 */
    case 23:   /* int4 */
    case 25:   /* text */
    case 114:  /* json */
    case 700:  /* float4 */
    case 701:  /* float8 */
    case 1043: /* varchar */
    case 1082: /* date */
    case 1083: /* time */
    case 1114: /* timestamp */
    case 1184: /* timestamptz */
    case 1186: /* interval */
    case 1266: /* timetz */
    case 1700: /* numeric */
    case 2950: /* uuid */
    case 3802: /* jsonb */ return true;
    default: return false;
    }
}

/* The where clause's SQL (esync_where_sql: identifiers double-quoted, every value a `$k::type`
 * placeholder) with each placeholder replaced by its value as a literal (PQescapeLiteral), since
 * COPY takes no parameters. A value stays a quoted literal under its cast, so the clause means
 * what it meant with parameters. NULL when out of memory. */
static char *inline_params(PGconn *conn, const char *sql, int n, const char *const *vals) {
    esync_sb b = {0};
    for (const char *p = sql; *p;) {
        if (*p == '"') { /* a quoted identifier, "" inside it */
            const char *s = p++;
            while (*p && !(*p == '"' && p[1] != '"')) p += *p == '"' ? 2 : 1;
            if (*p) p++;
            esync__sb_put(&b, s, (size_t)(p - s));
        } else if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            char *end;
            long k = strtol(p + 1, &end, 10);
            char *lit = k >= 1 && k <= n ? PQescapeLiteral(conn, vals[k - 1], strlen(vals[k - 1]))
                                         : NULL;
            if (!lit) {
                esync__sb_free(&b);
                return NULL;
            }
            esync__sb_puts(&b, lit);
            PQfreemem(lit);
            p = end;
        } else {
            esync__sb_put(&b, p++, 1);
        }
    }
    return esync__sb_take(&b, NULL);
}

/* One row of COPY's text format (a line, '\n' last) split into its n fields in place: vals[i]
 * the NUL-terminated text with COPY's backslash escapes undone, or NULL for `\N`; lens[i] its
 * length. -1 when the line does not have n fields. */
static int copy_fields(char *row, size_t len, int n, const char **vals, size_t *lens) {
    if (!len || row[len - 1] != '\n') return -1;
    char *p = row, *end = row + len - 1;
    for (int i = 0;; i++) {
        if (i >= n) return -1;
        char *f = p, *w = p;
        if (end - p >= 2 && p[0] == '\\' && p[1] == 'N' && (p + 2 == end || p[2] == '\t')) {
            vals[i] = NULL;
            lens[i] = 0;
            p += 2;
        } else {
            while (p < end && *p != '\t') {
                if (*p != '\\' || p + 1 == end) {
                    *w++ = *p++;
                    continue;
                }
                char c = p[1];
                p += 2;
                switch (c) {
                case 'b': *w++ = '\b'; break;
                case 'f': *w++ = '\f'; break;
                case 'n': *w++ = '\n'; break;
                case 'r': *w++ = '\r'; break;
                case 't': *w++ = '\t'; break;
                case 'v': *w++ = '\v'; break;
                default: *w++ = c; break; /* \\ and any other escaped byte: itself */
                }
            }
            vals[i] = f;
            lens[i] = (size_t)(w - f);
        }
        *w = '\0'; /* w <= p: the tab (or the line's end) is at or after it */
        if (p == end) return i == n - 1 ? 0 : -1;
        p++;
    }
}

int esync__snapshot_run(PGconn *conn, const esync_shape_view *v, esync_storage *log,
                        const esync_snapshot_hooks *hooks, esync_snapinfo *info, bool *conn_lost,
                        char *err, size_t errsz) {
    *conn_lost = false;
    memset(info, 0, sizeof *info);
    double t0 = now_ms();
    /* The display settings of docs/protocol.md §2.4.1, the same as the replication
     * session's, so that snapshot and stream values match byte for byte. */
    PGresult *res = PQexec(conn,
                           "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                           "SET LOCAL bytea_output = 'hex'; SET LOCAL DateStyle = 'ISO, DMY'; "
                           "SET LOCAL TimeZone = 'UTC'; SET LOCAL extra_float_digits = 1; "
                           "SET LOCAL IntervalStyle = 'iso_8601'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(conn, res, conn_lost, err, errsz, "begin");
    PQclear(res);
    res = PQexec(conn, "SELECT pg_current_snapshot()::text, pg_current_wal_lsn()::text");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return fail(conn, res, conn_lost, err, errsz, "pg_current_snapshot");
    if (esync__snapshot_info_parse(PQgetvalue(res, 0, 0), info) != 0) {
        snprintf(err, errsz, "unexpected snapshot text '%s'", PQgetvalue(res, 0, 0));
        PQclear(res);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    {
        unsigned hi = 0, lo = 0;
        sscanf(PQgetvalue(res, 0, 1), "%X/%X", &hi, &lo);
        info->lsn = ((uint64_t)hi << 32) | lo;
    }
    PQclear(res);

    /* SELECT <every column as text> FROM <table> [WHERE <clause>] */
    const esync_table *t = v->t;
    esync_sb q = {0};
    esync__sb_puts(&q, "SELECT ");
    for (int i = 0; i < t->ncols; i++) {
        char *id = PQescapeIdentifier(conn, t->cols[i].name, strlen(t->cols[i].name));
        if (!id) {
            esync__sb_free(&q);
            return fail(conn, NULL, conn_lost, err, errsz, "escape");
        }
        if (i) esync__sb_puts(&q, ", ");
        if (strcmp(t->cols[i].typname, "bpchar") == 0 && t->cols[i].dims == 0)
            esync__sb_printf(&q, "CASE WHEN %s IS NULL THEN NULL ELSE concat(%s) END", id, id);
        else if (output_is_text(t->cols[i].type_oid))
            esync__sb_puts(&q, id);
        else
            esync__sb_printf(&q, "%s::text", id);
        PQfreemem(id);
    }
    if (t->ncols == 0) esync__sb_puts(&q, "1");
    esync__sb_printf(&q, " FROM %s", t->qname);
    char *wsql = NULL, **wvals = NULL;
    int nw = 0;
    if (v->where) {
        if (esync_where_sql(v->where, 1, &wsql, &wvals, &nw) != 0) {
            esync__sb_free(&q);
            snprintf(err, errsz, "where: out of memory");
            PQclear(PQexec(conn, "ROLLBACK"));
            return -1;
        }
        esync__sb_printf(&q, " WHERE %s", wsql);
    }
    size_t where_at = v->where ? q.n - strlen(wsql) : q.n; /* the clause's place in q */
    int64_t est = -1;
    if ((hooks && hooks->estimate) || (v->where && t->npk > 0))
        est = plan_rows(conn, q.p, nw, (const char *const *)wvals);
    if (hooks && hooks->estimate && est >= 0) hooks->estimate(hooks->ctx, est);
    if (key_order(conn, v, est)) {
        /* In key order: a replica inserts into the right edge of its key's b-tree, so its pages
         * fill once, in order, instead of every page of the tree being rewritten as rows land all
         * over the key space; a checkpointing writer then flushes each page about once. Sorting
         * is off for this query, so the planner walks the key's index and the rows still stream
         * from the first one (no sort before the first byte); so is JIT, which a disabled sort's
         * cost would otherwise switch on. */
        PGresult *so = PQexec(conn, "SET LOCAL enable_sort = off; SET LOCAL jit = off");
        bool set = PQresultStatus(so) == PGRES_COMMAND_OK;
        PQclear(so);
        if (!set) {
            esync__sb_free(&q);
            free(wsql);
            free(wvals);
            return fail(conn, NULL, conn_lost, err, errsz, "enable_sort");
        }
        esync__sb_puts(&q, " ORDER BY ");
        for (int k = 0; k < t->npk; k++) {
            char *id = PQescapeIdentifier(conn, t->cols[t->pk[k]].name,
                                          strlen(t->cols[t->pk[k]].name));
            if (!id) {
                esync__sb_free(&q);
                free(wsql);
                free(wvals);
                return fail(conn, NULL, conn_lost, err, errsz, "escape");
            }
            /* qualified: a bare name would be the output column (the text cast), not the key */
            esync__sb_printf(&q, "%s%s.%s", k ? ", " : "", t->qname, id);
            PQfreemem(id);
        }
    }
    /* COPY (the query) TO STDOUT: rows as text lines, which costs the client much less than a
     * result per row in single-row mode (libpq copies the row's descriptors into each one), and
     * Postgres sends them as they come, so the first row is as early. COPY takes no parameters:
     * the clause's values go in as literals. */
    esync_sb cq = {0};
    esync__sb_puts(&cq, "COPY (");
    esync__sb_put(&cq, q.p, where_at);
    char *lits = NULL;
    if (v->where) {
        lits = inline_params(conn, wsql, nw, (const char *const *)wvals);
        if (!lits) {
            esync__sb_free(&cq);
            esync__sb_free(&q);
            free(wsql);
            free(wvals);
            snprintf(err, errsz, "where: out of memory");
            PQclear(PQexec(conn, "ROLLBACK"));
            return -1;
        }
        esync__sb_puts(&cq, lits);
        free(lits);
    }
    esync__sb_puts(&cq, q.p + where_at + (v->where ? strlen(wsql) : 0));
    esync__sb_puts(&cq, ") TO STDOUT");
    esync__sb_free(&q);
    free(wsql);
    free(wvals);
    int ok = PQsendQuery(conn, cq.p);
    esync__sb_free(&cq);
    if (!ok) return fail(conn, NULL, conn_lost, err, errsz, "snapshot query");
    res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_COPY_OUT)
        return fail(conn, res, conn_lost, err, errsz, "snapshot query");
    PQclear(res);

    const char **vals = esync__xcalloc((size_t)t->ncols + 1, sizeof *vals);
    size_t *lens = esync__xcalloc((size_t)t->ncols + 1, sizeof *lens);
    int nfields = t->ncols ? t->ncols : 1; /* a table without columns: SELECT 1 */
    esync_sb msg = {0};
    int rc = 0, complete = 0;
    bool stopped = false;
    /* where the time goes, for the log: Postgres (waiting for rows), encoding and writing; the
     * clock is read around every 16th row only, and those rows' shares stand for all */
    double tq = now_ms(), ta = 0, tb = 0, enc = 0, wr = 0;
    char *line = NULL;
    int n;
    while ((n = PQgetCopyData(conn, &line, 0)) >= 0) {
        bool timed = (info->rows & 15) == 0;
        if (timed) ta = now_ms();
        if (info->rows == 0) info->ms_first_row = ta - t0;
        if (copy_fields(line, (size_t)n, nfields, vals, lens) != 0) {
            if (rc == 0) snprintf(err, errsz, "snapshot query: unexpected COPY row");
            rc = -1;
        }
        if (rc == 0) {
            esync_row row = {vals, lens};
            msg.n = 0;
            esync__msg_snapshot_row(&msg, v, &row);
            if (timed) enc += (tb = now_ms()) - ta;
            if (esync__storage_snap_add(log, msg.p, msg.n) != 0) {
                snprintf(err, errsz, "writing the snapshot: %s", strerror(errno));
                rc = -1;
            }
            if (timed) wr += now_ms() - tb;
        }
        PQfreemem(line);
        line = NULL;
        info->rows++;
        info->bytes += msg.n + 2;
        int c = esync__storage_snap_complete(log);
        if (rc == 0 && !stopped && hooks && hooks->progress &&
            (c != complete || (info->rows & 4095) == 0)) {
            complete = c;
            if (!hooks->progress(hooks->ctx, complete, info->rows)) {
                /* stop: ask the server to cancel, then drain what is already on its way */
                stopped = true;
                PGcancel *cn = PQgetCancel(conn);
                char ebuf[256];
                if (cn) {
                    PQcancel(cn, ebuf, sizeof ebuf);
                    PQfreeCancel(cn);
                }
            }
        }
    }
    info->ms_encode = enc * 16;
    info->ms_write = wr * 16;
    info->ms_pg = now_ms() - tq - info->ms_encode - info->ms_write;
    if (info->ms_pg < 0) info->ms_pg = 0;
    /* the COPY's own result: its end, or the error that stopped it (a cancel among them) */
    bool failed = n == -2;
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !failed && !stopped) {
            free(vals);
            free(lens);
            esync__sb_free(&msg);
            return fail(conn, res, conn_lost, err, errsz, "snapshot query");
        }
        PQclear(res);
    }
    if (failed && !stopped) {
        free(vals);
        free(lens);
        esync__sb_free(&msg);
        return fail(conn, NULL, conn_lost, err, errsz, "snapshot query");
    }
    free(vals);
    free(lens);
    esync__sb_free(&msg);
    /* The stop is checked every 4096 rows and at each chunk's end: a stop asked for after the
     * last check (the query's last rows already on their way) is honoured here, so a snapshot
     * that a stopping server was still reading is never finished and kept, whatever the timing. */
    if (!stopped && rc == 0 && hooks && hooks->progress &&
        !hooks->progress(hooks->ctx, esync__storage_snap_complete(log), info->rows))
        stopped = true;
    if (stopped) {
        snprintf(err, errsz, "cancelled");
        PQclear(PQexec(conn, "ROLLBACK"));
        *conn_lost = PQstatus(conn) != CONNECTION_OK;
        return -1;
    }
    res = PQexec(conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail(conn, res, conn_lost, err, errsz, "commit");
    PQclear(res);
    if (rc != 0) return -1;
    char *end = esync__snapshot_end_json(info);
    int chunks = esync__storage_snap_finish(log, end, strlen(end));
    if (chunks < 0) {
        snprintf(err, errsz, "writing the snapshot: %s", strerror(errno));
        rc = -1;
    }
    info->chunks = chunks;
    free(end);
    info->ms_total = now_ms() - t0;
    return rc;
}
