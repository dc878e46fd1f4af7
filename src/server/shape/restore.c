/* What a restart finds, and how it is read back:
 *   - <shapes dir>/state.json: the slot and the position up to which every stored log was synced
 *     (written by the replication thread before it reports that position to Postgres);
 *   - <shapes dir>/<handle>/meta.json: a READY shape's definition, table columns, snapshot info,
 *     chunk count and row count (written by the snapshot worker once every chunk is synced, then
 *     never changed; a shape directory without it is a snapshot that never finished).
 * At start, every shape directory with a usable meta.json and complete snapshot is registered as
 * READY (its definition compiled again); the others are removed.
 *
 * Runs on: esync__restore_load at start, before any other thread exists (so without the lock);
 * esync__restore_meta_json on a worker under the lock; esync__restore_write_state on the
 * replication thread without the lock (state.json is that thread's alone while it runs);
 * esync__restore_forget_state at stop, after the replication thread ended.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "shape/service_internal.h"
#include "shape/restore.h"

char *esync__restore_meta_json(const shape *s) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "version", 1);
    cJSON_AddStringToObject(m, "handle", s->handle);
    cJSON_AddStringToObject(m, "key", s->key);
    cJSON *t = cJSON_AddObjectToObject(m, "table");
    cJSON_AddNumberToObject(t, "relid", s->t->relid);
    cJSON_AddStringToObject(t, "schema", s->t->schema);
    cJSON_AddStringToObject(t, "name", s->t->name);
    cJSON_AddStringToObject(t, "qname", s->t->qname);
    cJSON *cols = cJSON_AddArrayToObject(t, "columns");
    for (int i = 0; i < s->t->ncols; i++) {
        const esync_tcol *c = &s->t->cols[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", c->name);
        cJSON_AddNumberToObject(o, "type_oid", c->type_oid);
        cJSON_AddNumberToObject(o, "typmod", c->typmod);
        cJSON_AddStringToObject(o, "typname", c->typname);
        cJSON_AddNumberToObject(o, "dims", c->dims);
        cJSON_AddNumberToObject(o, "pk_index", c->pk_index);
        cJSON_AddBoolToObject(o, "not_null", c->not_null);
        cJSON_AddItemToArray(cols, o);
    }
    if (s->where) cJSON_AddStringToObject(m, "where", s->where);
    cJSON *ps = cJSON_AddArrayToObject(m, "params");
    for (int i = 0; i < s->nparams; i++) cJSON_AddItemToArray(ps, cJSON_CreateString(s->params[i]));
    if (s->columns) {
        cJSON *cs = cJSON_AddArrayToObject(m, "columns");
        for (int i = 0; i < s->ncolumns; i++)
            cJSON_AddItemToArray(cs, cJSON_CreateString(s->columns[i]));
    }
    cJSON_AddBoolToObject(m, "full", s->full);
    char buf[32];
    cJSON *sn = cJSON_AddObjectToObject(m, "snapshot");
    snprintf(buf, sizeof buf, "%" PRIu64, s->snap.xmin);
    cJSON_AddStringToObject(sn, "xmin", buf);
    snprintf(buf, sizeof buf, "%" PRIu64, s->snap.xmax);
    cJSON_AddStringToObject(sn, "xmax", buf);
    cJSON *xip = cJSON_AddArrayToObject(sn, "xip");
    for (int i = 0; i < s->snap.nxip; i++) {
        snprintf(buf, sizeof buf, "%" PRIu64, s->snap.xip[i]);
        cJSON_AddItemToArray(xip, cJSON_CreateString(buf));
    }
    cJSON_AddNumberToObject(m, "chunks", s->nchunks);
    cJSON_AddNumberToObject(m, "rows", (double)s->rows);
    char *out = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return out;
}

void esync__restore_write_state(esync_shapes *S, uint64_t flushed) {
    char path[PATH_MAX + 32], tmp[PATH_MAX + 32], buf[128];
    snprintf(path, sizeof path, "%s/state.json", S->dir);
    snprintf(tmp, sizeof tmp, "%s/state.json.tmp", S->dir);
    int n = snprintf(buf, sizeof buf, "{\"slot\":\"%s\",\"flushed\":\"%" PRIu64 "\"}\n", S->slot,
                     flushed);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t w = write(fd, buf, (size_t)n);
    fdatasync(fd);
    close(fd);
    if (w == n) rename(tmp, path);
}

void esync__restore_forget_state(esync_shapes *S) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/state.json", S->dir);
    unlink(path);
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void remove_dir(esync_shapes *S, const char *dir) {
    esync_storage *l = esync__storage_open(dir, S->o.chunk_bytes, (char[8]){0}, 8);
    if (l) {
        esync__storage_close(l, 1);
        return;
    }
    /* not even a log: remove whatever files are there */
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.') continue;
            char p[2 * PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Rebuilds one stored shape; NULL (and the directory removed) when it is unusable. */
static shape *load_shape(esync_shapes *S, const char *dir) {
    char *text = esync__storage_read_meta(dir);
    if (!text) return NULL;
    cJSON *m = cJSON_ParseWithLengthOpts(text, strlen(text), NULL, 0);
    free(text);
    if (!m) return NULL;
    shape *s = NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "table");
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(t, "columns");
    const char *handle = jstr(m, "handle"), *key = jstr(m, "key");
    if (!handle || !key || !cJSON_IsArray(cols) || !jstr(t, "schema") || !jstr(t, "name") ||
        !jstr(t, "qname"))
        goto out;
    esync_table *tb = esync__xcalloc(1, sizeof *tb);
    tb->refs = 1;
    tb->relid = (uint32_t)jnum(t, "relid");
    tb->schema = esync__xstrdup(jstr(t, "schema"));
    tb->name = esync__xstrdup(jstr(t, "name"));
    tb->qname = esync__xstrdup(jstr(t, "qname"));
    tb->ncols = cJSON_GetArraySize(cols);
    tb->cols = esync__xcalloc((size_t)tb->ncols + 1, sizeof *tb->cols);
    tb->pk = esync__xcalloc((size_t)tb->ncols + 1, sizeof *tb->pk);
    for (int i = 0; i < tb->ncols; i++) {
        const cJSON *c = cJSON_GetArrayItem(cols, i);
        tb->cols[i].name = esync__xstrdup(jstr(c, "name") ? jstr(c, "name") : "?");
        tb->cols[i].typname = esync__xstrdup(jstr(c, "typname") ? jstr(c, "typname") : "text");
        tb->cols[i].type_oid = (uint32_t)jnum(c, "type_oid");
        tb->cols[i].typmod = (int32_t)jnum(c, "typmod");
        tb->cols[i].dims = (int)jnum(c, "dims");
        tb->cols[i].pk_index = (int)jnum(c, "pk_index");
        tb->cols[i].not_null = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "not_null"));
    }
    for (int k = 0;; k++) {
        int found = -1;
        for (int i = 0; i < tb->ncols; i++)
            if (tb->cols[i].pk_index == k) found = i;
        if (found < 0) break;
        tb->pk[tb->npk++] = found;
    }
    /* the definition, checked as a new one would be */
    const char *where_text = jstr(m, "where");
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(m, "params");
    int nparams = cJSON_GetArraySize(ps);
    const char **params = esync__xcalloc((size_t)nparams + 1, sizeof *params);
    for (int i = 0; i < nparams; i++) {
        const cJSON *v = cJSON_GetArrayItem(ps, i);
        params[i] = cJSON_IsString(v) ? v->valuestring : "";
    }
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(m, "columns");
    int ncolumns = cJSON_IsArray(cs) ? cJSON_GetArraySize(cs) : 0;
    const char **columns = esync__xcalloc((size_t)ncolumns + 1, sizeof *columns);
    int *sel = esync__xcalloc((size_t)tb->ncols + 1, sizeof *sel);
    int nsel = 0;
    if (cJSON_IsArray(cs)) {
        for (int i = 0; i < ncolumns; i++) {
            const cJSON *v = cJSON_GetArrayItem(cs, i);
            columns[i] = cJSON_IsString(v) ? v->valuestring : "";
        }
        for (int k = 0; k < tb->ncols; k++)
            for (int i = 0; i < ncolumns; i++)
                if (strcmp(tb->cols[k].name, columns[i]) == 0) {
                    sel[nsel++] = k;
                    break;
                }
    } else {
        for (int k = 0; k < tb->ncols; k++) sel[nsel++] = k;
    }
    esync_where *w = NULL;
    if (where_text) {
        char err[256];
        int rc = esync__table_where_compile(tb, where_text, params, nparams, &w, err, sizeof err);
        if (rc != 0) {
            free(sel);
            free(params);
            free(columns);
            esync__table_unref(tb);
            goto out;
        }
    }
    s = esync__xcalloc(1, sizeof *s);
    s->refs = 1;
    snprintf(s->handle, sizeof s->handle, "%s", handle);
    s->key = esync__xstrdup(key);
    s->t = tb;
    esync__msg_view_init(&s->view, tb, sel, nsel,
                         cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "full")), w);
    s->schema_json = esync__table_schema_json(tb, s->view.sel, s->view.nsel);
    s->full = s->view.full;
    s->where = where_text ? esync__xstrdup(where_text) : NULL;
    s->nparams = nparams;
    s->params = esync__xcalloc((size_t)nparams + 1, sizeof *s->params);
    for (int i = 0; i < nparams; i++) s->params[i] = esync__xstrdup(params[i]);
    if (cJSON_IsArray(cs)) {
        s->ncolumns = ncolumns;
        s->columns = esync__xcalloc((size_t)ncolumns + 1, sizeof *s->columns);
        for (int i = 0; i < ncolumns; i++) s->columns[i] = esync__xstrdup(columns[i]);
    }
    free(sel);
    free(params);
    free(columns);
    const cJSON *sn = cJSON_GetObjectItemCaseSensitive(m, "snapshot");
    s->snap.xmin = strtoull(jstr(sn, "xmin") ? jstr(sn, "xmin") : "0", NULL, 10);
    s->snap.xmax = strtoull(jstr(sn, "xmax") ? jstr(sn, "xmax") : "0", NULL, 10);
    const cJSON *xip = cJSON_GetObjectItemCaseSensitive(sn, "xip");
    s->snap.nxip = cJSON_GetArraySize(xip);
    s->snap.xip = esync__xcalloc((size_t)s->snap.nxip + 1, sizeof *s->snap.xip);
    for (int i = 0; i < s->snap.nxip; i++) {
        const cJSON *v = cJSON_GetArrayItem(xip, i);
        s->snap.xip[i] = strtoull(cJSON_IsString(v) ? v->valuestring : "0", NULL, 10);
    }
    s->snap_known = true;
    /* the snapshot's row count (absent from the meta.json of older servers: unknown) */
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(m, "rows");
    s->rows = cJSON_IsNumber(rows) && rows->valuedouble >= 0 ? (int64_t)rows->valuedouble : -1;
    s->rows_estimate = -1;
    char err[512];
    s->log = esync__storage_open(dir, S->o.chunk_bytes, err, sizeof err);
    s->nchunks = s->log ? esync__storage_snap_chunks(s->log) : 0;
    if (!s->log || s->nchunks < 1 || s->nchunks != (int)jnum(m, "chunks")) {
        esync_log_warn("shapes: stored shape %s unusable: %s", handle,
                       s->log ? "snapshot incomplete" : err);
        esync__service_unref(s);
        s = NULL;
        goto out;
    }
    esync__storage_snap_gzip(s->log, S->o.gzip_level);
    esync__storage_snap_images(s->log, S->o.images ? s->schema_json : NULL);
    esync__storage_snap_gzip_missing(s->log);
    s->state = S_READY;
out:
    cJSON_Delete(m);
    return s;
}

void esync__restore_load(esync_shapes *S) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/state.json", S->dir);
    char *st = NULL;
    {
        FILE *f = fopen(path, "r");
        if (f) {
            char buf[256] = "";
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = '\0';
            fclose(f);
            st = esync__xstrdup(buf);
        }
    }
    cJSON *sj = st ? cJSON_Parse(st) : NULL;
    free(st);
    const char *fl = jstr(sj, "flushed");
    S->stored_flushed = fl ? strtoull(fl, NULL, 10) : 0;
    cJSON_Delete(sj);
    DIR *d = opendir(S->dir);
    if (!d) return;
    struct dirent *de;
    int loaded = 0, dropped = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strchr(de->d_name, '.')) continue;
        char dir[PATH_MAX + 300];
        snprintf(dir, sizeof dir, "%s/%s", S->dir, de->d_name);
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
        shape *s = load_shape(S, dir);
        if (!s || esync__service_lookup(S, s->key)) {
            if (s) esync__service_unref(s);
            remove_dir(S, dir);
            dropped++;
            continue;
        }
        esync__service_add(S, s);
        loaded++;
    }
    closedir(d);
    if (loaded || dropped)
        esync_log("shapes: %d stored shape(s) loaded, %d incomplete one(s) removed", loaded,
                  dropped);
}
