/* The upstream client of the Electric proxy (see proxy.h).
 *
 * A transfer (xfer) is shared by the proxy thread (curl callbacks) and, once answered, the
 * response's content reader on the epoll thread; its mutex guards the buffered body and the
 * flags, and a reference count (proxy thread + response) decides who frees it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "shape/proxy.h"

#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"
#include "log.h"
#include "sbuf.h"
#include "shape/cors.h"

#define MAX_BUFFERED (8u << 20) /* body bytes held for a slow client before pausing upstream */

typedef struct xfer xfer;
struct xfer {
    esync_proxy *p;
    esync_req *r;
    CURL *easy;
    struct curl_slist *req_headers;
    char *url;
    char origin[512];
    bool head;
    long status;
    esync_sb hdrs; /* "name\0value\0" pairs from upstream */
    bool replied;  /* the HTTP response is queued */
    bool paused;   /* upstream paused: too much buffered */
    pthread_mutex_t mu;
    esync_sb body;
    size_t rpos;
    bool finished, failed, reader_waiting, abandoned;
    int refs;
    xfer *next; /* p->incoming, then p->active */
};

struct esync_proxy {
    char *base;
    char *shown; /* base for logs: any password as ***; the query (with the secret) never logged */
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t mu;
    bool stopping;
    xfer *incoming;
    xfer *active;
};

static void xfer_unref(xfer *x) {
    if (__atomic_sub_fetch(&x->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    pthread_mutex_destroy(&x->mu);
    esync__sb_free(&x->hdrs);
    esync__sb_free(&x->body);
    curl_slist_free_all(x->req_headers);
    free(x->url);
    free(x);
}

/* --- the streaming body (epoll thread) ------------------------------------------------------- */

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    xfer *x = cls;
    pthread_mutex_lock(&x->mu);
    size_t avail = x->body.n - x->rpos;
    if (avail) {
        size_t k = avail < max ? avail : max;
        memcpy(buf, x->body.p + x->rpos, k);
        x->rpos += k;
        if (x->rpos == x->body.n) x->rpos = x->body.n = 0;
        pthread_mutex_unlock(&x->mu);
        return (ssize_t)k;
    }
    if (x->finished) {
        bool failed = x->failed;
        pthread_mutex_unlock(&x->mu);
        return failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* nothing yet: sleep until the proxy thread has more (it resumes us) */
    x->reader_waiting = true;
    esync_req_suspend(x->r);
    pthread_mutex_unlock(&x->mu);
    return 0;
}

static void body_free(void *cls) {
    xfer *x = cls;
    pthread_mutex_lock(&x->mu);
    x->abandoned = true;
    pthread_mutex_unlock(&x->mu);
    xfer_unref(x);
}

static bool hop_by_hop(const char *name) {
    static const char *const skip[] = {"connection",
                                       "keep-alive",
                                       "transfer-encoding",
                                       "content-length",
                                       "content-encoding", /* curl decoded the body */
                                       "date",
                                       "server",
                                       "vary",
                                       "electric-server",
                                       "x-request-id",
                                       "upgrade",
                                       "proxy-connection",
                                       "te",
                                       "trailer"};
    if (strncasecmp(name, "access-control-", 15) == 0) return true;
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcasecmp(name, skip[i]) == 0) return true;
    return false;
}

/* Upstream headers complete (proxy thread): answer the suspended request. */
static void answer(xfer *x) {
    struct MHD_Response *resp;
    if (x->head) {
        resp = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
    } else {
        __atomic_add_fetch(&x->refs, 1, __ATOMIC_RELAXED); /* the response's */
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, body_read, x,
                                                 body_free);
    }
    if (!resp) abort();
    esync__cors_add(resp, x->origin);
    for (size_t i = 0; i < x->hdrs.n;) {
        const char *name = x->hdrs.p + i;
        const char *value = name + strlen(name) + 1;
        i = (size_t)(value - x->hdrs.p) + strlen(value) + 1;
        if (!hop_by_hop(name)) MHD_add_response_header(resp, name, value);
    }
    x->replied = true;
    esync_req_reply_response(x->r, (int)x->status, resp, 0);
    esync_req_resume(x->r);
}

static void answer_error(xfer *x, int status, const char *json) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(json), (void *)(uintptr_t)json, MHD_RESPMEM_MUST_COPY);
    if (!resp) abort();
    esync__cors_add(resp, x->origin);
    MHD_add_response_header(resp, "content-type", "application/json; charset=utf-8");
    MHD_add_response_header(resp, "cache-control", "no-store");
    MHD_add_response_header(resp, "retry-after", "5");
    x->replied = true;
    esync_req_reply_response(x->r, status, resp, strlen(json));
    esync_req_resume(x->r);
}

/* --- curl callbacks (proxy thread) ----------------------------------------------------------- */

static size_t on_header(char *data, size_t size, size_t n, void *cls) {
    xfer *x = cls;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        x->hdrs.n = 0; /* a new response (after a 100 Continue or a redirect) */
        const char *sp = memchr(data, ' ', len);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 502;
        return len;
    }
    if (len <= 2 && (data[0] == '\r' || data[0] == '\n')) {
        if (x->status >= 200 && !x->replied) {
            long code = 0;
            curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
            bool redirect = code >= 300 && code < 400 && code != 304;
            if (!redirect) answer(x);
        }
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon) return len;
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
    esync__sb_put(&x->hdrs, data, nl);
    esync__sb_put(&x->hdrs, "", 1);
    esync__sb_put(&x->hdrs, v, (size_t)(end - v));
    esync__sb_put(&x->hdrs, "", 1);
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *cls) {
    xfer *x = cls;
    size_t len = size * n;
    pthread_mutex_lock(&x->mu);
    if (x->abandoned) {
        pthread_mutex_unlock(&x->mu);
        return 0; /* aborts the transfer */
    }
    if (x->body.n - x->rpos > MAX_BUFFERED) {
        x->paused = true;
        pthread_mutex_unlock(&x->mu);
        return CURL_WRITEFUNC_PAUSE;
    }
    esync__sb_put(&x->body, data, len);
    bool wake = x->reader_waiting;
    x->reader_waiting = false;
    pthread_mutex_unlock(&x->mu);
    if (wake) esync_req_resume(x->r);
    return len;
}

static void finish(esync_proxy *p, xfer *x, CURLcode rc) {
    if (!x->replied) {
        if (rc != CURLE_OK) esync_log_warn("proxy: %s: %s", p->shown, curl_easy_strerror(rc));
        answer_error(x, 502, "{\"message\":\"Electric upstream unreachable\"}");
    } else {
        pthread_mutex_lock(&x->mu);
        x->finished = true;
        x->failed = rc != CURLE_OK;
        bool wake = x->reader_waiting && !x->abandoned;
        x->reader_waiting = false;
        pthread_mutex_unlock(&x->mu);
        if (wake) esync_req_resume(x->r);
    }
}

static void *run(void *arg) {
    esync_proxy *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        bool stopping = p->stopping;
        xfer *in = p->incoming;
        p->incoming = NULL;
        pthread_mutex_unlock(&p->mu);
        while (in) {
            xfer *x = in;
            in = in->next;
            x->next = p->active;
            p->active = x;
            curl_multi_add_handle(p->multi, x->easy);
        }
        /* paused transfers the client has caught up with, and abandoned ones */
        for (xfer **pp = &p->active; *pp;) {
            xfer *x = *pp;
            pthread_mutex_lock(&x->mu);
            bool abandoned = x->abandoned, gone = abandoned || stopping;
            bool unpause = x->paused && x->body.n - x->rpos < MAX_BUFFERED / 2;
            if (unpause) x->paused = false;
            pthread_mutex_unlock(&x->mu);
            if (gone) {
                curl_multi_remove_handle(p->multi, x->easy);
                if (!x->replied)
                    answer_error(x, 503, "{\"message\":\"Shutting down\"}");
                else if (!abandoned)
                    finish(p, x, CURLE_ABORTED_BY_CALLBACK); /* wakes a waiting reader */
                curl_easy_cleanup(x->easy);
                *pp = x->next;
                xfer_unref(x);
                continue;
            }
            if (unpause) curl_easy_pause(x->easy, CURLPAUSE_CONT);
            pp = &x->next;
        }
        if (stopping && !p->active) break;
        int running = 0;
        curl_multi_perform(p->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(p->multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE) continue;
            xfer *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            CURLcode rc = m->data.result;
            curl_multi_remove_handle(p->multi, x->easy);
            finish(p, x, rc);
            curl_easy_cleanup(x->easy);
            for (xfer **pp = &p->active; *pp; pp = &(*pp)->next)
                if (*pp == x) {
                    *pp = x->next;
                    break;
                }
            xfer_unref(x);
        }
        curl_multi_poll(p->multi, NULL, 0, 200, NULL);
    }
    return NULL;
}

/* --- API ------------------------------------------------------------------------------------- */

esync_proxy *esync__proxy_start(const char *base) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    esync_proxy *p = esync__xcalloc(1, sizeof *p);
    size_t n = strlen(base);
    while (n && base[n - 1] == '/') n--;
    esync_sb b = {0};
    esync__sb_put(&b, base, n);
    if (n < 9 || strcmp(b.p + n - 9, "/v1/shape") != 0) esync__sb_puts(&b, "/v1/shape");
    p->base = esync__sb_take(&b, NULL);
    p->shown = esync__redact_url(p->base);
    p->multi = curl_multi_init();
    pthread_mutex_init(&p->mu, NULL);
    if (!p->multi || pthread_create(&p->thread, NULL, run, p) != 0) {
        fprintf(stderr, "electric-sync-server: cannot start the proxy\n");
        abort();
    }
    return p;
}

void esync__proxy_forward(esync_proxy *p, esync_req *r, const char *query, const char *origin,
                          const char *if_none_match, bool head) {
    xfer *x = esync__xcalloc(1, sizeof *x);
    x->p = p;
    x->r = r;
    x->refs = 1;
    x->head = head;
    pthread_mutex_init(&x->mu, NULL);
    snprintf(x->origin, sizeof x->origin, "%s", origin ? origin : "");
    esync_sb u = {0};
    esync__sb_puts(&u, p->base);
    esync__sb_puts(&u, "?");
    esync__sb_puts(&u, query);
    x->url = esync__sb_take(&u, NULL);
    x->easy = curl_easy_init();
    if (!x->easy) abort();
    curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, 120000L); /* above any long-poll hold */
    curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(x->easy, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->easy, CURLOPT_ACCEPT_ENCODING, ""); /* decoded here, sent plain */
    if (head) curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
    if (if_none_match && *if_none_match) {
        char h[512];
        snprintf(h, sizeof h, "If-None-Match: %s", if_none_match);
        x->req_headers = curl_slist_append(x->req_headers, h);
    }
    x->req_headers = curl_slist_append(x->req_headers, "Expect:");
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->req_headers);
    esync_req_suspend(r);
    pthread_mutex_lock(&p->mu);
    x->next = p->incoming;
    p->incoming = x;
    pthread_mutex_unlock(&p->mu);
    curl_multi_wakeup(p->multi);
}

void esync__proxy_stop(esync_proxy *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_mutex_unlock(&p->mu);
    curl_multi_wakeup(p->multi);
    pthread_join(p->thread, NULL);
    curl_multi_cleanup(p->multi);
    pthread_mutex_destroy(&p->mu);
    free(p->base);
    free(p->shown);
    free(p);
}
