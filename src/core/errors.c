/*
 * errors.c — the error table (generated from ESYNC_ERRNO_MAP), the per-engine error slot, and
 * SQL run on the writer connection with its failure recorded in that slot.
 */
#include "errors.h"

#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

const char *esync_strerror(int code) {
    switch (code) {
    case ESYNC_OK: return "ok";
#define XX(name, c, msg)                                                                           \
    case c: return msg;
        ESYNC_ERRNO_MAP(XX)
#undef XX
    default: return "unknown error";
    }
}

const char *esync_errname(int code) {
    switch (code) {
    case ESYNC_OK: return "ESYNC_OK";
#define XX(name, c, msg)                                                                           \
    case c: return "ESYNC_E" #name;
        ESYNC_ERRNO_MAP(XX)
#undef XX
    default: return "EUNKNOWN";
    }
}

int esync__fail(esync *e, int code, const char *fmt, ...) {
    e->errcode = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->errmsg, sizeof e->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

int esync__oom(esync *e) { return esync__fail(e, ESYNC_ENOMEM, "out of memory"); }

int esync__ok(esync *e) {
    e->errcode = ESYNC_OK;
    e->errmsg[0] = 0;
    return ESYNC_OK;
}

int esync__sqlfail(esync *e, sqlite3 *db, const char *what) {
    int rc = sqlite3_errcode(db);
    return esync__fail(e, rc == SQLITE_NOMEM ? ESYNC_ENOMEM : ESYNC_ESQLITE, "%s: %s", what,
                       sqlite3_errmsg(db));
}

int esync__exec(esync *e, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(e->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = esync__fail(e,
                             sqlite3_errcode(e->db) == SQLITE_NOMEM ? ESYNC_ENOMEM : ESYNC_ESQLITE,
                             "%s", msg ? msg : sqlite3_errmsg(e->db));
        sqlite3_free(msg);
        return rc;
    }
    return ESYNC_OK;
}

int esync__exec_buf(esync *e, const esync_buf *b) {
    if (b->oom) return esync__oom(e);
    return esync__exec(e, b->data);
}

int esync_errcode(const esync *e) { return e ? e->errcode : ESYNC_EINVAL; }
const char *esync_errmsg(const esync *e) { return e ? e->errmsg : "no engine"; }
