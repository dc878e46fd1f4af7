/*
 * memvfs.c — SQLite's VFS in the browser: every file lives in the wasm heap as an array of
 * 4 KiB chunks (the database page size), with a per-file set of chunks written since the last
 * time the owner took them (esync_memvfs_take_dirty), which is what gets persisted to IndexedDB.
 *
 * Invariants
 *  - Synchronous and single-threaded (no Asyncify): a read never waits for IndexedDB. An image
 *    is loaded whole before the database is opened, or lazily: chunks that storage holds but that
 *    are not in the heap yet are marked ABSENT (esync_memvfs_absent); a read, a write of part of
 *    one or a truncation that meets one fails (SQLITE_IOERR_READ / _WRITE / _TRUNCATE) without
 *    touching anything and records the chunk (esync_memvfs_missing), so the caller loads it and
 *    runs the statement again. A page written whole replaces it (its stored bytes are older; a
 *    rolled back batch makes it ABSENT again). An ABSENT chunk is never dereferenced nor handed
 *    out; load_chunk fills it.
 *  - Lock levels are implemented here (shared count, one reserved, pending/exclusive), so the
 *    engine's reader connection reads committed pages while the writer holds RESERVED.
 *  - A chunk's memory is a slot of its file's slab of SLAB consecutive chunks (one allocation, made
 *    at the slab's first chunk, freed with its last): a run of consecutive chunks lies contiguously
 *    in the heap, so the store builds an extent's record from a few views of the heap instead of a
 *    copy of each chunk (memvfs.js views). Slot i of a slab is chunk i's whether or not it holds
 *    one; chunks[] says which do.
 *  - Main databases advertise SQLITE_IOCAP_BATCH_ATOMIC: SQLite then commits without a journal,
 *    writing the pages between BEGIN/COMMIT_ATOMIC_WRITE; a ROLLBACK_ATOMIC_WRITE restores the
 *    chunks saved at their first write in the batch. Journals and temp files stay in memory.
 *
 * Portable C (no emscripten.h): the native tests compile it too.
 */
#include "memvfs.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK ESYNC_MEMVFS_CHUNK /* short local name */
#define SLAB 64                  /* chunks per slab (256 KiB; a 1 MiB extent is 4 of them) */

/* The slot of a chunk that storage holds and the heap does not yet (a lazy open). */
static unsigned char k_absent;
#define ABSENT (&k_absent)

typedef struct mslab {
    unsigned char *mem; /* SLAB * CHUNK bytes, or NULL */
    unsigned used;      /* chunks that hold their slot */
} mslab;

typedef struct mfile {
    char *name;
    unsigned char **chunks;
    size_t nchunks; /* allocated slots */
    mslab *slabs;   /* slab k holds chunks k*SLAB .. k*SLAB+SLAB-1 */
    size_t nslabs;
    size_t absent;      /* slots that are ABSENT */
    sqlite3_int64 size; /* bytes */
    int refs;
    int deleted;
    /* locks */
    int shared;   /* connections holding at least SHARED */
    int reserved; /* a connection holds RESERVED or more */
    int pending;  /* a connection is PENDING or EXCLUSIVE */
    /* dirty chunks since the last take */
    unsigned char *dirty;
    size_t dirty_cap;
    /* batch-atomic write in progress: original contents of chunks touched (NULL = had none) */
    int in_batch;
    unsigned char **saved;
    unsigned char *saved_set;
    size_t saved_cap;
    sqlite3_int64 saved_size;
    struct mfile *next;
} mfile;

typedef struct mconn {
    sqlite3_file base;
    mfile *f;
    int lock;
    int main_db;
} mconn;

static mfile *g_files;
static uint64_t g_commits;
static sqlite3_int64 g_missing = -1; /* the ABSENT chunk the last failed access met */

static int is_absent(const mfile *f, size_t i) { return i < f->nchunks && f->chunks[i] == ABSENT; }

/* An access met ABSENT chunk i: remembered for esync_memvfs_missing, rc returned. */
static int missing(size_t i, int rc) {
    g_missing = (sqlite3_int64)i;
    return rc;
}

static void *xmalloc(size_t n) { return sqlite3_malloc64(n); }
static void xfree(void *p) { sqlite3_free(p); }

static mfile *find(const char *name) {
    for (mfile *f = g_files; f; f = f->next)
        if (!f->deleted && !strcmp(f->name, name)) return f;
    return NULL;
}

static void file_free(mfile *f) {
    for (size_t k = 0; k < f->nslabs; k++) xfree(f->slabs[k].mem);
    xfree(f->slabs);
    xfree(f->chunks);
    xfree(f->dirty);
    for (size_t i = 0; i < f->saved_cap; i++)
        if (f->saved && f->saved[i] != ABSENT) xfree(f->saved[i]);
    xfree(f->saved);
    xfree(f->saved_set);
    xfree(f->name);
    xfree(f);
}

static void unlink_file(mfile *f) {
    for (mfile **pp = &g_files; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            file_free(f);
            return;
        }
    }
}

/* Grows an array of `elem`-byte items from n to cap items, the new ones zeroed. Returns the new
 * array, or NULL (the old one untouched). */
static void *grow_zeroed(void *array, size_t n, size_t cap, size_t elem) {
    unsigned char *a = sqlite3_realloc64(array, cap * elem);
    if (a) memset(a + n * elem, 0, (cap - n) * elem);
    return a;
}

/* The capacity (doubling from 16) that holds index need - 1. */
static size_t cap_for(size_t have, size_t need) {
    size_t cap = have ? have : 16;
    while (cap < need) cap *= 2;
    return cap;
}

static int grow_slots(mfile *f, size_t need) {
    if (need <= f->nchunks) return SQLITE_OK;
    size_t cap = cap_for(f->nchunks, need);
    /* the two arrays always have the same length: commit the new one only when both grew */
    unsigned char **chunks = grow_zeroed(f->chunks, f->nchunks, cap, sizeof *chunks);
    if (!chunks) return SQLITE_NOMEM;
    f->chunks = chunks;
    unsigned char *dirty = grow_zeroed(f->dirty, f->dirty_cap, cap, 1);
    if (!dirty) return SQLITE_NOMEM; /* chunks is longer now; harmless, nchunks still says n */
    f->dirty = dirty;
    f->dirty_cap = f->nchunks = cap;
    return SQLITE_OK;
}

/* Memory for chunk i (whose slot holds none: NULL or ABSENT), in its slab; NULL without memory.
 * Its bytes are undefined, as malloc's. */
static unsigned char *chunk_new(mfile *f, size_t i) {
    size_t k = i / SLAB;
    if (k >= f->nslabs) {
        size_t cap = cap_for(f->nslabs, k + 1);
        mslab *slabs = grow_zeroed(f->slabs, f->nslabs, cap, sizeof *slabs);
        if (!slabs) return NULL;
        f->slabs = slabs;
        f->nslabs = cap;
    }
    mslab *sl = &f->slabs[k];
    if (!sl->mem && !(sl->mem = xmalloc((size_t)SLAB * CHUNK))) return NULL;
    sl->used++;
    return sl->mem + (i % SLAB) * CHUNK;
}

/* Chunk i no longer holds memory (the caller sets its slot): its slab goes with its last chunk. */
static void chunk_drop(mfile *f, size_t i) {
    mslab *sl = &f->slabs[i / SLAB];
    if (--sl->used == 0) {
        xfree(sl->mem);
        sl->mem = NULL;
    }
}

/* Saves a chunk's original contents at its first write inside a batch-atomic write. */
static int save_chunk(mfile *f, size_t i) {
    if (!f->in_batch) return SQLITE_OK;
    if (i >= f->saved_cap) {
        size_t cap = cap_for(f->saved_cap, i + 1);
        unsigned char **saved = grow_zeroed(f->saved, f->saved_cap, cap, sizeof *saved);
        if (!saved) return SQLITE_NOMEM;
        f->saved = saved;
        unsigned char *set = grow_zeroed(f->saved_set, f->saved_cap, cap, 1);
        if (!set) return SQLITE_NOMEM;
        f->saved_set = set;
        f->saved_cap = cap;
    }
    if (f->saved_set[i]) return SQLITE_OK;
    f->saved_set[i] = 1;
    if (is_absent(f, i))
        f->saved[i] = ABSENT; /* restored as ABSENT */
    else if (i < f->nchunks && f->chunks[i]) {
        f->saved[i] = xmalloc(CHUNK);
        if (!f->saved[i]) return SQLITE_NOMEM;
        memcpy(f->saved[i], f->chunks[i], CHUNK);
    }
    return SQLITE_OK;
}

static void batch_end(mfile *f, int rollback) {
    for (size_t i = 0; i < f->saved_cap; i++) {
        if (!f->saved_set[i]) continue;
        if (rollback) {
            if (f->saved[i] == ABSENT) {
                if (f->chunks[i] != ABSENT) {
                    chunk_drop(f, i);
                    f->chunks[i] = ABSENT;
                    f->absent++;
                }
            } else if (f->saved[i])
                memcpy(f->chunks[i], f->saved[i], CHUNK);
            else if (i < f->nchunks && f->chunks[i] && f->chunks[i] != ABSENT) {
                chunk_drop(f, i);
                f->chunks[i] = NULL;
            }
        }
        if (f->saved[i] != ABSENT) xfree(f->saved[i]);
        f->saved[i] = NULL;
        f->saved_set[i] = 0;
    }
    if (rollback) f->size = f->saved_size;
    f->in_batch = 0;
}

/* ---- file methods ---- */

static int m_close(sqlite3_file *pf) {
    mconn *c = (mconn *)pf;
    if (c->f && --c->f->refs == 0 && c->f->deleted) unlink_file(c->f);
    c->f = NULL;
    return SQLITE_OK;
}

static int m_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off) {
    mfile *f = ((mconn *)pf)->f;
    unsigned char *out = buf;
    int short_read = 0;
    if (off + amt > f->size) {
        short_read = 1;
        memset(out, 0, (size_t)amt);
    }
    sqlite3_int64 end = off + amt < f->size ? off + amt : f->size;
    while (off < end) {
        size_t i = (size_t)(off / CHUNK), o = (size_t)(off % CHUNK);
        size_t n = CHUNK - o;
        if ((sqlite3_int64)n > end - off) n = (size_t)(end - off);
        if (is_absent(f, i)) return missing(i, SQLITE_IOERR_READ);
        if (i < f->nchunks && f->chunks[i])
            memcpy(out, f->chunks[i] + o, n);
        else
            memset(out, 0, n);
        out += n;
        off += (sqlite3_int64)n;
    }
    return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

static int m_write(sqlite3_file *pf, const void *buf, int amt, sqlite3_int64 off) {
    mfile *f = ((mconn *)pf)->f;
    const unsigned char *in = buf;
    sqlite3_int64 end = off + amt;
    if (grow_slots(f, (size_t)((end + CHUNK - 1) / CHUNK))) return SQLITE_IOERR_NOMEM;
    /* An ABSENT chunk may be overwritten whole (a page SQLite writes without reading it: its
     * stored bytes are older), never in part: then nothing is written. */
    for (sqlite3_int64 at = off - off % CHUNK; f->absent && at < end; at += CHUNK)
        if (is_absent(f, (size_t)(at / CHUNK)) && (at < off || at + CHUNK > end))
            return missing((size_t)(at / CHUNK), SQLITE_IOERR_WRITE);
    while (off < end) {
        size_t i = (size_t)(off / CHUNK), o = (size_t)(off % CHUNK);
        size_t n = CHUNK - o;
        if ((sqlite3_int64)n > end - off) n = (size_t)(end - off);
        if (save_chunk(f, i)) return SQLITE_IOERR_NOMEM;
        if (f->chunks[i] == ABSENT) { /* written whole (checked above) */
            unsigned char *c = chunk_new(f, i);
            if (!c) return SQLITE_IOERR_NOMEM;
            f->chunks[i] = c;
            f->absent--;
        }
        if (!f->chunks[i]) {
            f->chunks[i] = chunk_new(f, i);
            if (!f->chunks[i]) return SQLITE_IOERR_NOMEM;
            if (n < CHUNK) memset(f->chunks[i], 0, CHUNK); /* a whole chunk is written below */
        }
        memcpy(f->chunks[i] + o, in, n);
        f->dirty[i] = 1;
        in += n;
        off += (sqlite3_int64)n;
    }
    if (end > f->size) f->size = end;
    return SQLITE_OK;
}

static int m_truncate(sqlite3_file *pf, sqlite3_int64 size) {
    mfile *f = ((mconn *)pf)->f;
    size_t keep = (size_t)((size + CHUNK - 1) / CHUNK);
    for (size_t i = keep; f->absent && i < f->nchunks; i++)
        if (f->chunks[i] == ABSENT) return missing(i, SQLITE_IOERR_TRUNCATE); /* nothing cut */
    for (size_t i = keep; i < f->nchunks; i++) {
        if (f->chunks[i]) {
            if (save_chunk(f, i)) return SQLITE_IOERR_NOMEM;
            chunk_drop(f, i);
            f->chunks[i] = NULL;
        }
    }
    if (size < f->size) f->size = size;
    return SQLITE_OK;
}

static int m_sync(sqlite3_file *pf, int flags) {
    (void)pf;
    (void)flags;
    return SQLITE_OK;
}

static int m_size(sqlite3_file *pf, sqlite3_int64 *size) {
    *size = ((mconn *)pf)->f->size;
    return SQLITE_OK;
}

static int m_lock(sqlite3_file *pf, int level) {
    mconn *c = (mconn *)pf;
    mfile *f = c->f;
    if (c->lock >= level) return SQLITE_OK;
    switch (level) {
    case SQLITE_LOCK_SHARED:
        if (f->pending) return SQLITE_BUSY;
        f->shared++;
        break;
    case SQLITE_LOCK_RESERVED:
        if (f->reserved) return SQLITE_BUSY;
        f->reserved = 1;
        break;
    case SQLITE_LOCK_EXCLUSIVE:
        if (c->lock < SQLITE_LOCK_RESERVED) {
            if (f->reserved) return SQLITE_BUSY;
            f->reserved = 1;
        }
        f->pending = 1;                        /* no new readers from here on */
        if (f->shared > 1) return SQLITE_BUSY; /* stays PENDING; SQLite retries */
        break;
    default: break;
    }
    c->lock = level;
    return SQLITE_OK;
}

static int m_unlock(sqlite3_file *pf, int level) {
    mconn *c = (mconn *)pf;
    mfile *f = c->f;
    if (c->lock <= level) return SQLITE_OK;
    if (c->lock >= SQLITE_LOCK_RESERVED) {
        f->reserved = 0;
        f->pending = 0;
        if (c->main_db && c->lock == SQLITE_LOCK_EXCLUSIVE) g_commits++;
    }
    if (level == SQLITE_LOCK_NONE && c->lock >= SQLITE_LOCK_SHARED) f->shared--;
    c->lock = level;
    return SQLITE_OK;
}

static int m_check_reserved(sqlite3_file *pf, int *out) {
    *out = ((mconn *)pf)->f->reserved;
    return SQLITE_OK;
}

static int m_fcntl(sqlite3_file *pf, int op, void *arg) {
    mconn *c = (mconn *)pf;
    mfile *f = c->f;
    (void)arg;
    switch (op) {
    case SQLITE_FCNTL_BEGIN_ATOMIC_WRITE:
        f->in_batch = 1;
        f->saved_size = f->size;
        return SQLITE_OK;
    case SQLITE_FCNTL_COMMIT_ATOMIC_WRITE: batch_end(f, 0); return SQLITE_OK;
    case SQLITE_FCNTL_ROLLBACK_ATOMIC_WRITE: batch_end(f, 1); return SQLITE_OK;
    default: return SQLITE_NOTFOUND;
    }
}

static int m_sector(sqlite3_file *pf) {
    (void)pf;
    return CHUNK;
}

static int m_devchar(sqlite3_file *pf) {
    mconn *c = (mconn *)pf;
    int caps = SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_SEQUENTIAL |
               SQLITE_IOCAP_POWERSAFE_OVERWRITE | SQLITE_IOCAP_UNDELETABLE_WHEN_OPEN;
    if (c->main_db) caps |= SQLITE_IOCAP_BATCH_ATOMIC;
    return caps;
}

static const sqlite3_io_methods k_io = {1,       m_close,  m_read,    m_write,  m_truncate,
                                        m_sync,  m_size,   m_lock,    m_unlock, m_check_reserved,
                                        m_fcntl, m_sector, m_devchar, NULL,     NULL,
                                        NULL,    NULL,     NULL,      NULL};

/* ---- vfs methods ---- */

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags, int *out_flags) {
    (void)vfs;
    mconn *c = (mconn *)pf;
    memset(c, 0, sizeof *c);
    char tmpname[32];
    if (!name) { /* a temp file: private to this handle */
        static unsigned n;
        sqlite3_snprintf((int)sizeof tmpname, tmpname, "/temp-%u", ++n);
        name = tmpname;
        flags |= SQLITE_OPEN_DELETEONCLOSE;
    }
    mfile *f = find(name);
    if (!f) {
        if (!(flags & SQLITE_OPEN_CREATE)) return SQLITE_CANTOPEN;
        f = xmalloc(sizeof *f);
        if (!f) return SQLITE_NOMEM;
        memset(f, 0, sizeof *f);
        size_t n = strlen(name);
        f->name = xmalloc(n + 1);
        if (!f->name) {
            xfree(f);
            return SQLITE_NOMEM;
        }
        memcpy(f->name, name, n + 1);
        f->next = g_files;
        g_files = f;
    }
    f->refs++;
    if (flags & SQLITE_OPEN_DELETEONCLOSE) f->deleted = 1;
    c->f = f;
    c->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    c->base.pMethods = &k_io;
    if (out_flags) *out_flags = flags;
    return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync) {
    (void)vfs;
    (void)sync;
    mfile *f = find(name);
    if (!f) return SQLITE_IOERR_DELETE_NOENT;
    if (f->refs)
        f->deleted = 1;
    else
        unlink_file(f);
    return SQLITE_OK;
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
    (void)vfs;
    (void)flags;
    mfile *f = find(name);
    *out = f && (f->size > 0 || flags == SQLITE_ACCESS_EXISTS);
    return SQLITE_OK;
}

static int v_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out) {
    (void)vfs;
    sqlite3_snprintf(n, out, "%s", name);
    return SQLITE_OK;
}

static int v_random(sqlite3_vfs *vfs, int n, char *out) {
    (void)vfs;
    static uint64_t x = 0x2545F4914F6CDD1DULL;
    for (int i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = (char)x;
    }
    return n;
}

static int v_sleep(sqlite3_vfs *vfs, int us) {
    (void)vfs;
    return us;
}

static int v_time(sqlite3_vfs *vfs, sqlite3_int64 *out) {
    (void)vfs;
    *out = 210866760000000LL; /* the engine never asks SQLite for the time; a fixed epoch */
    return SQLITE_OK;
}

static int v_lasterror(sqlite3_vfs *vfs, int n, char *out) {
    (void)vfs;
    (void)n;
    (void)out;
    return 0;
}

static sqlite3_vfs k_vfs = {2,       sizeof(mconn), 512,         NULL,     ESYNC_MEMVFS_NAME,
                            NULL,    v_open,        v_delete,    v_access, v_fullpath,
                            NULL,    NULL,          NULL,        NULL,     v_random,
                            v_sleep, NULL,          v_lasterror, v_time,   NULL,
                            NULL,    NULL};

int esync_memvfs_register(int make_default) { return sqlite3_vfs_register(&k_vfs, make_default); }

/* ---- image access for the persistence layer ---- */

/* The file `name`, created (empty, unreferenced) when it does not exist; NULL without memory. */
static mfile *find_or_create(const char *name) {
    mfile *f = find(name);
    if (!f) {
        mconn tmp;
        if (v_open(&k_vfs, name, &tmp.base, SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_DB, NULL))
            return NULL;
        f = tmp.f;
        f->refs--;
    }
    return f;
}

int esync_memvfs_write(const char *name, sqlite3_int64 offset, const void *data, size_t len) {
    mfile *f = find_or_create(name);
    if (!f) return SQLITE_NOMEM;
    if (!len) return SQLITE_OK;
    if (len > 0x7fffffff) return SQLITE_TOOBIG;
    mconn c;
    memset(&c, 0, sizeof c);
    c.base.pMethods = &k_io;
    c.f = f;
    size_t first = (size_t)(offset / CHUNK),
           last = (size_t)((offset + (sqlite3_int64)len - 1) / CHUNK);
    int rc = m_write(&c.base, data, (int)len, offset);
    /* loaded from storage: already persisted, not dirty */
    for (size_t i = first; rc == SQLITE_OK && i <= last && i < f->dirty_cap; i++) f->dirty[i] = 0;
    return rc;
}

unsigned char *esync_memvfs_load_chunk(const char *name, size_t index, size_t len) {
    if (!len || len > CHUNK) return NULL;
    mfile *f = find_or_create(name);
    if (!f || grow_slots(f, index + 1)) return NULL;
    if (f->chunks[index] == ABSENT) {
        unsigned char *c = chunk_new(f, index);
        if (!c) return NULL;
        f->chunks[index] = c;
        f->absent--;
    }
    if (!f->chunks[index] && !(f->chunks[index] = chunk_new(f, index))) return NULL;
    if (len < CHUNK) memset(f->chunks[index] + len, 0, CHUNK - len);
    f->dirty[index] = 0; /* loaded from storage: already persisted */
    sqlite3_int64 end = (sqlite3_int64)index * CHUNK + (sqlite3_int64)len;
    if (end > f->size) f->size = end;
    return f->chunks[index];
}

unsigned char *esync_memvfs_chunk(const char *name, size_t index) {
    mfile *f = find(name);
    return f && index < f->nchunks && f->chunks[index] != ABSENT ? f->chunks[index] : NULL;
}

long esync_memvfs_absent(const char *name, size_t first, size_t count, int on) {
    mfile *f = on && count ? find_or_create(name) : find(name);
    if (!f) return on && count ? -1 : 0; /* no memory; or no file: none absent */
    if (on && count) {
        if (grow_slots(f, first + count)) return -1;
        /* the file spans them (so that sizing it never writes into one) */
        sqlite3_int64 end = (sqlite3_int64)(first + count) * CHUNK;
        if (end > f->size) f->size = end;
    }
    for (size_t i = first; i < first + count && i < f->nchunks; i++) {
        if (on && !f->chunks[i]) {
            f->chunks[i] = ABSENT;
            f->absent++;
        } else if (!on && f->chunks[i] == ABSENT) {
            f->chunks[i] = NULL;
            f->absent--;
        }
    }
    return (long)f->absent;
}

int esync_memvfs_is_absent(const char *name, size_t index) {
    mfile *f = find(name);
    return f && is_absent(f, index);
}

sqlite3_int64 esync_memvfs_missing(void) {
    sqlite3_int64 i = g_missing;
    g_missing = -1;
    return i;
}

sqlite3_int64 esync_memvfs_size(const char *name) {
    mfile *f = find(name);
    return f ? f->size : -1;
}

size_t esync_memvfs_take_dirty(const char *name, uint32_t *out, size_t max) {
    mfile *f = find(name);
    if (!f) return 0;
    size_t n = 0;
    for (size_t i = 0; i < f->dirty_cap; i++) {
        if (!f->dirty[i]) continue;
        if (n < max) {
            out[n] = (uint32_t)i;
            f->dirty[i] = 0;
        }
        n++;
    }
    return n;
}

uint64_t esync_memvfs_commits(void) { return g_commits; }

int esync_memvfs_busy(const char *name) {
    mfile *f = find(name);
    if (!f) return -1;
    return f->pending || f->in_batch;
}

int esync_memvfs_delete(const char *name) { return v_delete(&k_vfs, name, 0); }
