/* A shape's files (see shape/storage.h for the layout and the invariants).
 *
 * Why an index file next to the data: the offsets of the messages and the chunk boundaries must
 * survive a restart without parsing JSON back, and a fixed-size record makes a torn write easy to
 * detect (a partial record is dropped, then everything after the last whole transaction).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shape/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "shape/gzip.h"

struct esync_storage {
    char dir[PATH_MAX];
    uint64_t chunk_bytes;
    int data_fd, idx_fd;
    uint64_t data_end;    /* bytes of log.json that belong to published entries */
    uint64_t chunk_start; /* position where the current log chunk began */
    esync_storage_entry *ents;
    size_t n, cap;
    /* snapshot being written */
    int snap_fd;
    int snap_k;
    uint64_t snap_size; /* bytes of chunk snap_k, the buffered ones included */
    char *snap_buf;     /* whole messages not yet written to snap_fd */
    size_t snap_buf_n;
    int snap_chunks;  /* finished snapshot: number of chunks */
    int gz_level;     /* the gzip of each complete chunk (shape/gzip.h); 0: none */
    char *img_schema; /* the electric-schema of the chunks' images (shape/gzip.h); NULL: none */
};

#define SNAP_BUF_BYTES (64u << 10)

int esync__storage_offset_cmp(esync_offset a, esync_offset b) {
    if (a.tx != b.tx) return a.tx < b.tx ? -1 : 1;
    if (a.op != b.op) return a.op < b.op ? -1 : 1;
    return 0;
}

void esync__storage_offset_text(esync_offset o, char *buf, size_t n) {
    if (o.op == ESYNC_OP_INF)
        snprintf(buf, n, "%" PRIu64 "_inf", o.tx);
    else
        snprintf(buf, n, "%" PRIu64 "_%" PRIu64, o.tx, o.op);
}

static int path_of(const esync_storage *l, const char *name, char *out, size_t n) {
    int w = snprintf(out, n, "%s/%s", l->dir, name);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t at) {
    char *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)at);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) {
            errno = EIO;
            return -1;
        }
        p += r;
        len -= (size_t)r;
        at += (uint64_t)r;
    }
    return 0;
}

static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static esync_storage *alloc_storage(const char *dir, uint64_t chunk_bytes) {
    esync_storage *l = esync__xcalloc(1, sizeof *l);
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    l->chunk_bytes = chunk_bytes;
    l->data_fd = l->idx_fd = l->snap_fd = -1;
    return l;
}

static int open_files(esync_storage *l, int create, char *err, size_t errsz) {
    char p[PATH_MAX + 16];
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);
    if (path_of(l, "log.json", p, sizeof p) != 0 || (l->data_fd = open(p, flags, 0644)) < 0 ||
        path_of(l, "log.idx", p, sizeof p) != 0 || (l->idx_fd = open(p, flags, 0644)) < 0) {
        snprintf(err, errsz, "%s: %s", p, strerror(errno));
        return -1;
    }
    return 0;
}

esync_storage *esync__storage_create(const char *dir, uint64_t chunk_bytes, char *err,
                                     size_t errsz) {
    if (mkdir(dir, 0755) != 0) {
        snprintf(err, errsz, "mkdir %s: %s", dir, strerror(errno));
        return NULL;
    }
    esync_storage *l = alloc_storage(dir, chunk_bytes);
    if (open_files(l, 1, err, errsz) != 0) {
        esync__storage_close(l, 1);
        return NULL;
    }
    return l;
}

static void push_entry(esync_storage *l, esync_storage_entry e) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ents = esync__xrealloc(l->ents, l->cap * sizeof *l->ents);
    }
    l->ents[l->n++] = e;
}

esync_storage *esync__storage_open(const char *dir, uint64_t chunk_bytes, char *err, size_t errsz) {
    esync_storage *l = alloc_storage(dir, chunk_bytes);
    if (open_files(l, 0, err, errsz) != 0) {
        esync__storage_close(l, 0);
        return NULL;
    }
    struct stat st;
    if (fstat(l->idx_fd, &st) != 0) {
        snprintf(err, errsz, "stat %s/log.idx: %s", dir, strerror(errno));
        esync__storage_close(l, 0);
        return NULL;
    }
    size_t nrec = (size_t)st.st_size / 32;
    uint64_t *rec = esync__xmalloc(nrec * 32 + 1);
    if (nrec && pread_all(l->idx_fd, rec, nrec * 32, 0) != 0) {
        snprintf(err, errsz, "read %s/log.idx: %s", dir, strerror(errno));
        free(rec);
        esync__storage_close(l, 0);
        return NULL;
    }
    struct stat ds;
    fstat(l->data_fd, &ds);
    size_t whole = 0; /* records up to the last complete transaction */
    uint64_t prev_end = 0;
    esync_offset prev = {0, 0};
    for (size_t i = 0; i < nrec; i++) {
        esync_storage_entry e = {{rec[4 * i], rec[4 * i + 1]}, rec[4 * i + 2], rec[4 * i + 3]};
        if (e.end <= prev_end || e.end > (uint64_t)ds.st_size ||
            (i > 0 && esync__storage_offset_cmp(e.off, prev) <= 0))
            break;
        prev_end = e.end;
        prev = e.off;
        push_entry(l, e);
        if (e.flags & ESYNC_STORAGE_LAST) whole = l->n;
    }
    free(rec);
    l->n = whole;
    l->data_end = whole ? l->ents[whole - 1].end : 0;
    if (ftruncate(l->idx_fd, (off_t)(whole * 32)) != 0 ||
        ftruncate(l->data_fd, (off_t)l->data_end) != 0) {
        snprintf(err, errsz, "truncate %s: %s", dir, strerror(errno));
        esync__storage_close(l, 0);
        return NULL;
    }
    lseek(l->idx_fd, 0, SEEK_END);
    lseek(l->data_fd, 0, SEEK_END);
    for (size_t i = whole; i-- > 0;) {
        if (l->ents[i].flags & ESYNC_STORAGE_CHUNK_END) {
            l->chunk_start = l->ents[i].end;
            break;
        }
    }
    /* the snapshot: chunks snap.0 .. snap.<k-1>; an image a crash left unsynced goes (it is
     * made again: esync__storage_snap_gzip_missing) */
    char p[PATH_MAX + 16];
    for (int k = 0;; k++) {
        char name[48];
        snprintf(name, sizeof name, "snap.%d", k);
        if (path_of(l, name, p, sizeof p) != 0 || access(p, R_OK) != 0) break;
        l->snap_chunks = k + 1;
        snprintf(name, sizeof name, "snap.%d.img" ESYNC_STORAGE_IMAGE_UNSYNCED, k);
        if (path_of(l, name, p, sizeof p) == 0) unlink(p);
    }
    return l;
}

void esync__storage_close(esync_storage *l, int remove) {
    if (!l) return;
    if (l->data_fd >= 0) close(l->data_fd);
    if (l->idx_fd >= 0) close(l->idx_fd);
    if (l->snap_fd >= 0) close(l->snap_fd);
    free(l->snap_buf);
    if (remove) {
        esync__gzip_lock(); /* no gzip job creates a file in it meanwhile */
        DIR *d = opendir(l->dir);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (de->d_name[0] == '.') continue;
                char p[PATH_MAX + 300];
                snprintf(p, sizeof p, "%s/%s", l->dir, de->d_name);
                unlink(p);
            }
            closedir(d);
        }
        rmdir(l->dir);
        esync__gzip_unlock();
    }
    free(l->ents);
    free(l->img_schema);
    free(l);
}

const char *esync__storage_dir(const esync_storage *l) { return l->dir; }

/* --- snapshot -------------------------------------------------------------------------------- */

uint64_t esync__storage_snap_limit(uint64_t chunk_bytes, int k) {
    uint64_t lim = ESYNC_STORAGE_FIRST_CHUNK;
    for (int i = 0; i < k && lim < chunk_bytes; i++) lim *= 4;
    return lim < chunk_bytes ? lim : chunk_bytes;
}

void esync__storage_snap_gzip(esync_storage *l, int level) {
    l->gz_level = level < 0 ? 0 : level > 9 ? 9 : level;
}

void esync__storage_snap_images(esync_storage *l, const char *schema) {
    free(l->img_schema);
    l->img_schema = schema ? esync__xstrdup(schema) : NULL;
}

bool esync__storage_snap_makes_gzip(const esync_storage *l) { return l->gz_level > 0; }
bool esync__storage_snap_makes_images(const esync_storage *l) { return l->img_schema != NULL; }

static int snap_flush(esync_storage *l) {
    if (!l->snap_buf_n) return 0;
    if (write_all(l->snap_fd, l->snap_buf, l->snap_buf_n) != 0) return -1;
    l->snap_buf_n = 0;
    return 0;
}

/* Closes the current chunk (its bytes written; synced only at the end, esync__storage_snap_sync)
 * and opens the next one. */
static int snap_open_next(esync_storage *l) {
    char name[32], p[PATH_MAX + 16];
    if (l->snap_fd >= 0) {
        if (snap_flush(l) != 0) return -1;
        /* start the write-back now, so the sync at the end finds little left to write */
        sync_file_range(l->snap_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        close(l->snap_fd);
        /* chunk k is complete: its image is made now, for a client syncing the new shape; the
         * gzips at the snapshot's end (shape/gzip.h) */
        esync__gzip_enqueue_image(l->dir, l->snap_k, l->img_schema);
        l->snap_k++;
    }
    snprintf(name, sizeof name, "snap.%d", l->snap_k);
    if (path_of(l, name, p, sizeof p) != 0) return -1;
    l->snap_fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    l->snap_size = 0;
    return l->snap_fd < 0 ? -1 : 0;
}

static int snap_write(esync_storage *l, const char *json, size_t len) {
    if (l->snap_fd < 0 && snap_open_next(l) != 0) return -1;
    if (l->snap_size > 0 &&
        l->snap_size + len > esync__storage_snap_limit(l->chunk_bytes, l->snap_k) &&
        snap_open_next(l) != 0)
        return -1;
    if (!l->snap_buf) l->snap_buf = esync__xmalloc(SNAP_BUF_BYTES);
    if (l->snap_buf_n + len + 2 > SNAP_BUF_BYTES) {
        if (snap_flush(l) != 0) return -1;
        if (len + 2 > SNAP_BUF_BYTES) { /* a large message goes straight to the file */
            if (write_all(l->snap_fd, json, len) != 0 || write_all(l->snap_fd, ",\n", 2) != 0)
                return -1;
            l->snap_size += len + 2;
            return 0;
        }
    }
    memcpy(l->snap_buf + l->snap_buf_n, json, len);
    memcpy(l->snap_buf + l->snap_buf_n + len, ",\n", 2);
    l->snap_buf_n += len + 2;
    l->snap_size += len + 2;
    return 0;
}

int esync__storage_snap_add(esync_storage *l, const char *json, size_t len) {
    return snap_write(l, json, len);
}

int esync__storage_snap_complete(const esync_storage *l) {
    return l->snap_chunks ? l->snap_chunks : l->snap_k;
}

int esync__storage_snap_finish(esync_storage *l, const char *json, size_t len) {
    if (snap_write(l, json, len) != 0 || snap_flush(l) != 0) return -1;
    sync_file_range(l->snap_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    close(l->snap_fd);
    l->snap_fd = -1;
    free(l->snap_buf);
    l->snap_buf = NULL;
    l->snap_chunks = l->snap_k + 1;
    esync__gzip_enqueue_image(l->dir, l->snap_k, l->img_schema); /* the last chunk's */
    esync__storage_snap_gzip_missing(l);
    return l->snap_chunks;
}

int esync__storage_snap_sync(const esync_storage *l) {
    for (int k = 0; k < l->snap_chunks; k++) {
        char name[32], p[PATH_MAX + 16];
        snprintf(name, sizeof name, "snap.%d", k);
        if (path_of(l, name, p, sizeof p) != 0) return -1;
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return -1;
        int rc = fdatasync(fd);
        close(fd);
        if (rc != 0 && errno != EINVAL) return -1;
    }
    sync_dir(l->dir);
    return 0;
}

int esync__storage_snap_chunks(const esync_storage *l) { return l->snap_chunks; }

static int open_sized(const char *p, uint64_t *size) {
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) return -1;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

/* Opens snap.<k><suffix> ("" or ".gz") for reading. */
static int snap_file(const esync_storage *l, int k, const char *suffix, uint64_t *size) {
    char name[48], p[PATH_MAX + 48];
    if (k < 0) return -1;
    snprintf(name, sizeof name, "snap.%d%s", k, suffix);
    if (path_of(l, name, p, sizeof p) != 0) return -1;
    return open_sized(p, size);
}

int esync__storage_snap_open(const esync_storage *l, int k, uint64_t *size) {
    return snap_file(l, k, "", size);
}

int esync__storage_snap_open_gz(const esync_storage *l, int k, uint64_t *size) {
    return snap_file(l, k, ".gz", size);
}

int esync__storage_snap_open_image(const esync_storage *l, int k, bool gz, uint64_t *size) {
    if (gz) return snap_file(l, k, ".img.gz", size);
    int fd = snap_file(l, k, ".img", size);
    /* still being synced; or renamed to .img between the two opens */
    if (fd < 0) fd = snap_file(l, k, ".img" ESYNC_STORAGE_IMAGE_UNSYNCED, size);
    if (fd < 0) fd = snap_file(l, k, ".img", size);
    return fd;
}

uint64_t esync__storage_snap_chunk_limit(const esync_storage *l, int k) {
    return esync__storage_snap_limit(l->chunk_bytes, k);
}

/* Whether chunk k's file with this suffix exists. */
static bool snap_has(const esync_storage *l, int k, const char *suffix) {
    uint64_t size;
    int fd = snap_file(l, k, suffix, &size);
    if (fd >= 0) close(fd);
    return fd >= 0;
}

bool esync__storage_snap_image_failed(const esync_storage *l, int k) {
    return snap_has(l, k, ".img.fail");
}

void esync__storage_snap_gzip_missing(const esync_storage *l) {
    for (int k = 0; k < l->snap_chunks; k++) {
        bool gz = l->gz_level > 0, img = l->img_schema != NULL && !snap_has(l, k, ".img.fail");
        if ((gz && !snap_has(l, k, ".gz")) || (img && !snap_has(l, k, ".img")) ||
            (img && gz && !snap_has(l, k, ".img.gz")))
            esync__gzip_enqueue(l->dir, k, l->gz_level, l->img_schema, true);
    }
}

/* --- change log ------------------------------------------------------------------------------ */

int esync__storage_append(esync_storage *l, const char *data, size_t len, const esync_offset *offs,
                          const size_t *ends, size_t n) {
    if (n == 0) return 0;
    if (write_all(l->data_fd, data, len) != 0) return -1;
    uint64_t *rec = esync__xmalloc(n * 32);
    size_t first = l->n;
    for (size_t i = 0; i < n; i++) {
        esync_storage_entry e = {offs[i], l->data_end + ends[i],
                                 i + 1 == n ? ESYNC_STORAGE_LAST : 0};
        if (e.end - l->chunk_start >= l->chunk_bytes) {
            e.flags |= ESYNC_STORAGE_CHUNK_END;
            l->chunk_start = e.end;
        }
        rec[4 * i] = e.off.tx;
        rec[4 * i + 1] = e.off.op;
        rec[4 * i + 2] = e.end;
        rec[4 * i + 3] = e.flags;
        push_entry(l, e);
    }
    int rc = write_all(l->idx_fd, rec, n * 32);
    free(rec);
    if (rc != 0) {
        /* Unpublish: the next open cuts whatever reached the files. */
        l->n = first;
        return -1;
    }
    l->data_end += len;
    return 0;
}

int esync__storage_sync(esync_storage *l) {
    if (fdatasync(l->data_fd) != 0) return -1;
    return fdatasync(l->idx_fd);
}

int esync__storage_dup_fds(const esync_storage *l, int *data_fd, int *idx_fd) {
    *data_fd = fcntl(l->data_fd, F_DUPFD_CLOEXEC, 0);
    *idx_fd = fcntl(l->idx_fd, F_DUPFD_CLOEXEC, 0);
    if (*data_fd < 0 || *idx_fd < 0) {
        if (*data_fd >= 0) close(*data_fd);
        if (*idx_fd >= 0) close(*idx_fd);
        return -1;
    }
    return 0;
}

size_t esync__storage_count(const esync_storage *l) { return l->n; }

const esync_storage_entry *esync__storage_entries(const esync_storage *l) { return l->ents; }

size_t esync__storage_after(const esync_storage *l, esync_offset o) {
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (esync__storage_offset_cmp(l->ents[mid].off, o) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t esync__storage_chunk_stop(const esync_storage *l, size_t first) {
    for (size_t i = first; i < l->n; i++)
        if (l->ents[i].flags & ESYNC_STORAGE_CHUNK_END) return i + 1;
    return l->n;
}

void esync__storage_range(const esync_storage *l, size_t first, size_t stop, uint64_t *start,
                          uint64_t *end) {
    *start = first == 0 ? 0 : l->ents[first - 1].end;
    *end = stop == 0 ? 0 : l->ents[stop - 1].end;
    if (*end < *start) *end = *start;
}

int esync__storage_pread(const esync_storage *l, char *buf, uint64_t start, size_t len) {
    return pread_all(l->data_fd, buf, len, start);
}

int esync__storage_log_fd(const esync_storage *l) {
    char p[PATH_MAX + 16];
    if (path_of(l, "log.json", p, sizeof p) != 0) return -1;
    return open(p, O_RDONLY | O_CLOEXEC);
}

/* --- metadata -------------------------------------------------------------------------------- */

int esync__storage_write_meta(esync_storage *l, const char *json, size_t len) {
    char tmp[PATH_MAX + 16], dst[PATH_MAX + 16];
    if (path_of(l, "meta.json.tmp", tmp, sizeof tmp) != 0 ||
        path_of(l, "meta.json", dst, sizeof dst) != 0)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    int rc = write_all(fd, json, len);
    if (rc == 0) rc = fdatasync(fd);
    close(fd);
    if (rc == 0) rc = rename(tmp, dst);
    if (rc == 0) sync_dir(l->dir);
    return rc;
}

char *esync__storage_read_meta(const char *dir) {
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/meta.json", dir);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size > (64 << 20)) {
        close(fd);
        return NULL;
    }
    char *s = esync__xmalloc((size_t)st.st_size + 1);
    if (pread_all(fd, s, (size_t)st.st_size, 0) != 0) {
        close(fd);
        free(s);
        return NULL;
    }
    close(fd);
    s[st.st_size] = '\0';
    return s;
}
