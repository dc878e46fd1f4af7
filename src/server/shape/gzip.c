/* Background gzip and replica images of snapshot chunks (see shape/gzip.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shape/gzip.h"
#include "shape/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common.h"
#include "esync.h"
#include "log.h"

#define IO_BYTES (256u << 10)

typedef struct job {
    char *dir, *schema;
    int k, level;
    bool json_gz;
    bool urgent;    /* a chunk's image a client may be waiting for (esync__gzip_enqueue_image) */
    int64_t queued; /* monotonic ms */
    struct job *next;
} job;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t dir_mu = PTHREAD_MUTEX_INITIALIZER;
static job *head, *tail;
static bool running, busy;
static int64_t hold_until; /* monotonic ms: no job starts before (esync__gzip_hold) */
static volatile bool stopping;
static pthread_t thread;

void (*esync__gzip_after_image_build)(const char *dir, int k);

void esync__gzip_lock(void) { pthread_mutex_lock(&dir_mu); }
void esync__gzip_unlock(void) { pthread_mutex_unlock(&dir_mu); }

/* The end of a job's file: part renamed to dst when rc is 0, else removed. */
static int finish(const char *part, const char *dst, int rc) {
    esync__gzip_lock();
    if (rc == 0 && rename(part, dst) != 0) rc = -1;
    if (rc != 0) unlink(part);
    esync__gzip_unlock();
    return rc;
}

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Deflates n bytes (flush Z_NO_FLUSH or Z_FINISH) into fd. 0 or -1. */
static int feed(z_stream *z, int fd, const void *data, size_t n, int flush, unsigned char *out) {
    z->next_in = (Bytef *)(uintptr_t)data;
    z->avail_in = (uInt)n;
    for (;;) {
        z->next_out = out;
        z->avail_out = IO_BYTES;
        int rc = deflate(z, flush);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return -1;
        size_t made = IO_BYTES - z->avail_out;
        if (made && write_all(fd, out, made) != 0) return -1;
        if (flush == Z_FINISH ? rc == Z_STREAM_END : z->avail_in == 0 && z->avail_out != 0)
            return 0;
    }
}

/* Deflates src into dst through part (created under the lock, synced, renamed): the whole file,
 * or with wrap the chunk's answer body ("[" + the file without its last ",\n" + "]"). */
static int gzip_file(const char *src, const char *part, const char *dst, bool wrap, int level,
                     const volatile bool *stop) {
    if (access(dst, F_OK) == 0) return 0;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (in < 0) return -1;
    if (fstat(in, &st) != 0 || (wrap && st.st_size < 2)) {
        close(in);
        return -1;
    }
    esync__gzip_lock();
    int out = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    esync__gzip_unlock();
    if (out < 0) {
        close(in);
        return -1;
    }
    z_stream z = {0};
    unsigned char *buf = esync__xmalloc(IO_BYTES), *zout = esync__xmalloc(IO_BYTES);
    /* windowBits 15 + 16: a gzip header and trailer (CRC-32, length) around the deflate data */
    int rc = deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK ? 0 : -1;
    bool inited = rc == 0;
    if (rc == 0 && wrap) rc = feed(&z, out, "[", 1, Z_NO_FLUSH, zout);
    uint64_t left = (uint64_t)st.st_size - (wrap ? 2 : 0); /* without the last ",\n" */
    for (uint64_t at = 0; rc == 0 && left;) {
        if (stop && *stop) {
            rc = -1;
            break;
        }
        size_t want = left < IO_BYTES ? (size_t)left : IO_BYTES;
        ssize_t got = pread(in, buf, want, (off_t)at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            rc = -1;
            break;
        }
        rc = feed(&z, out, buf, (size_t)got, Z_NO_FLUSH, zout);
        at += (uint64_t)got;
        left -= (uint64_t)got;
    }
    if (rc == 0) rc = feed(&z, out, wrap ? "]" : "", wrap ? 1 : 0, Z_FINISH, zout);
    if (inited) deflateEnd(&z);
    free(buf);
    free(zout);
    close(in);
    if (rc == 0 && fdatasync(out) != 0 && errno != EINVAL) rc = -1;
    if (close(out) != 0) rc = -1;
    return finish(part, dst, rc);
}

/* The replica image of a chunk (esync_image_build) into dst through part, then through
 * dst.new (ESYNC_STORAGE_IMAGE_UNSYNCED): once built, the image is served at once under that
 * name while it is written to disk, then renamed to dst. A client waiting for it does not wait
 * for the disk (an fdatasync of a few MB took 40 ms here now and then, with the snapshot's own
 * writes going on); a restart drops a dst.new (storage.c), whose bytes may not all have reached
 * the disk, and the image is made again. */
static int image_file(const char *dir, int k, const char *src, const char *part, const char *dst,
                      const char *schema) {
    char fail[PATH_MAX], fresh[PATH_MAX];
    if (access(dst, F_OK) == 0) return 0;
    if (snprintf(fresh, sizeof fresh, "%s%s", dst, ESYNC_STORAGE_IMAGE_UNSYNCED) >=
        (int)sizeof fresh)
        return -1;
    if (snprintf(fail, sizeof fail, "%s.fail", dst) >= (int)sizeof fail || access(fail, F_OK) == 0)
        return -1; /* failed before */
    int in = open(src, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (in < 0) return -1;
    if (fstat(in, &st) != 0 || st.st_size < 2 || (uint64_t)st.st_size > SIZE_MAX / 2) {
        close(in);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    char *body = esync__xmalloc(n + 1);
    int rc = 0;
    body[0] = '[';
    for (size_t at = 0; rc == 0 && at < n - 2;) {
        ssize_t got = pread(in, body + 1 + at, n - 2 - at, (off_t)at);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            rc = -1;
        else
            at += (size_t)got;
    }
    close(in);
    body[n - 1] = ']';  /* "[" + the messages without the last ",\n" + "]" */
    esync__gzip_lock(); /* the builder fills the empty file made here */
    int out = rc == 0 ? open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    esync__gzip_unlock();
    if (out < 0) rc = -1;
    char err[256] = "";
    bool built = rc == 0 && esync_image_build_inplace(schema, (uint8_t *)body, n, part, NULL, err,
                                                      sizeof err) == 0;
    free(body);
    if (esync__gzip_after_image_build) esync__gzip_after_image_build(dir, k);
    const char *made = part;
    if (rc == 0) {
        esync__gzip_lock();
        /* The shape's directory removed meanwhile (storage.c, under the lock; src, the chunk,
         * goes only then): nothing more is made in it. The builder opens part by its name,
         * without the lock, so its open may have made part again between that removal's unlink
         * of part and its rmdir, which then failed: part goes, and the directory with it. */
        if (access(src, F_OK) != 0) {
            unlink(part);
            rmdir(dir);
            rc = -1;
        } else if (!built) {
            esync_log_warn("shapes: image of %s: %s", src, err);
            rc = -1;
            /* snap.<k>.img.fail: no client waits for this image, and no later job tries again */
            int fd = open(fail, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0) close(fd);
        } else if (rename(part, fresh) == 0) { /* served from now on; durable, then dst */
            made = fresh;
        } else {
            rc = -1;
        }
        esync__gzip_unlock();
    }
    if (rc == 0 && fdatasync(out) != 0 && errno != EINVAL) rc = -1;
    if (out >= 0 && close(out) != 0) rc = -1;
    return finish(made, dst, rc);
}

int esync__gzip_chunk(const char *dir, int k, int level, const char *schema, bool json_gz,
                      const volatile bool *stop) {
    char src[PATH_MAX], part[PATH_MAX], gz[PATH_MAX], img[PATH_MAX], imggz[PATH_MAX];
    if (snprintf(src, sizeof src, "%s/snap.%d", dir, k) >= (int)sizeof src ||
        snprintf(part, sizeof part, "%s/snap.%d.part", dir, k) >= (int)sizeof part ||
        snprintf(gz, sizeof gz, "%s/snap.%d.gz", dir, k) >= (int)sizeof gz ||
        snprintf(img, sizeof img, "%s/snap.%d.img", dir, k) >= (int)sizeof img ||
        snprintf(imggz, sizeof imggz, "%s/snap.%d.img.gz", dir, k) >= (int)sizeof imggz)
        return -1;
    if (stop && *stop) return -1;
    /* the image first (an image that cannot be made leaves the chunk's gzip to be made all the
     * same) */
    int rc = schema ? image_file(dir, k, src, part, img, schema) : 0;
    if (rc == 0 && schema && level > 0 && !(stop && *stop))
        rc = gzip_file(img, part, imggz, false, level, stop);
    if (json_gz && level > 0 && !(stop && *stop) &&
        gzip_file(src, part, gz, true, level, stop) != 0)
        rc = -1;
    return rc;
}

void esync__gzip_hold(unsigned ms) {
    int64_t until = esync__now_ms() + ms;
    pthread_mutex_lock(&mu);
    if (until > hold_until) hold_until = until;
    pthread_mutex_unlock(&mu);
}

/* Under mu: whether the first job must wait for a hold, and until when (abs. CLOCK_REALTIME). */
static bool held(struct timespec *until) {
    int64_t now = esync__now_ms();
    int64_t end = hold_until < head->queued + ESYNC_GZIP_HOLD_MAX_MS
                      ? hold_until
                      : head->queued + ESYNC_GZIP_HOLD_MAX_MS;
    if (end <= now) return false;
    *until = esync__abstime_in(end - now);
    return true;
}

static void free_job(job *j) {
    if (!j) return;
    free(j->dir);
    free(j->schema);
    free(j);
}

/* Under mu: the first urgent job, taken off the queue (NULL: none). */
static job *take_urgent(void) {
    for (job **at = &head, *prev = NULL; *at; prev = *at, at = &(*at)->next) {
        job *j = *at;
        if (!j->urgent) continue;
        *at = j->next;
        if (tail == j) tail = prev;
        return j;
    }
    return NULL;
}

static void *run(void *arg) {
    (void)arg;
    /* below the snapshot writers and the HTTP threads: only what they leave of the CPU */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    pthread_mutex_lock(&mu);
    for (;;) {
        struct timespec until;
        job *j = NULL;
        while (!stopping && !(j = take_urgent()) && (!head || held(&until))) {
            if (head)
                pthread_cond_timedwait(&cv, &mu, &until);
            else
                pthread_cond_wait(&cv, &mu);
        }
        if (stopping) {
            free_job(j);
            break;
        }
        if (!j) {
            j = head;
            head = j->next;
            if (!head) tail = NULL;
        }
        busy = true;
        pthread_mutex_unlock(&mu);
        /* an image a client waits for, at the priority of the snapshot writer it follows (the
         * nice value goes back up after; without CAP_SYS_NICE it stays at 10, only slower) */
        if (j->urgent) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 0);
        esync__gzip_chunk(j->dir, j->k, j->level, j->schema, j->json_gz, &stopping);
        if (j->urgent) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
        free_job(j);
        pthread_mutex_lock(&mu);
        busy = false;
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void enqueue(const char *dir, int k, int level, const char *schema, bool json_gz,
                    bool urgent) {
    job *j = esync__xcalloc(1, sizeof *j);
    j->urgent = urgent;
    j->json_gz = json_gz;
    j->dir = esync__xstrdup(dir);
    j->schema = schema ? esync__xstrdup(schema) : NULL;
    j->k = k;
    j->level = level < 0 ? 0 : level > 9 ? 9 : level;
    j->queued = esync__now_ms();
    pthread_mutex_lock(&mu);
    if (!running) {
        stopping = false;
        if (pthread_create(&thread, NULL, run, NULL) != 0) {
            pthread_mutex_unlock(&mu);
            free_job(j);
            return; /* no gzip: the chunk is served uncompressed */
        }
        running = true;
    }
    if (tail)
        tail->next = j;
    else
        head = j;
    tail = j;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

void esync__gzip_enqueue(const char *dir, int k, int level, const char *schema, bool json_gz) {
    if ((level <= 0 || !json_gz) && !schema) return;
    enqueue(dir, k, level, schema, json_gz, false);
}

void esync__gzip_enqueue_image(const char *dir, int k, const char *schema) {
    if (schema) enqueue(dir, k, 0, schema, false, true);
}

void esync__gzip_drain(void) {
    pthread_mutex_lock(&mu);
    while (running && (head || busy)) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

void esync__gzip_stop(void) {
    pthread_mutex_lock(&mu);
    if (!running) {
        pthread_mutex_unlock(&mu);
        return;
    }
    stopping = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    pthread_mutex_lock(&mu);
    while (head) {
        job *j = head;
        head = j->next;
        free_job(j);
    }
    tail = NULL;
    running = false;
    stopping = false;
    pthread_mutex_unlock(&mu);
}
