/* libmicrohttpd glue (see http.h for the life of a request).
 *
 * Threads: libmicrohttpd runs one internal epoll thread; every callback here runs on it. The only
 * entry points other threads may use are the esync_req_reply* functions and esync_req_resume, on
 * a request they hold while it is suspended. libmicrohttpd's resume takes a mutex that its
 * thread also takes before calling us again, which orders the worker's writes to the request
 * before our reads.
 *
 * Early errors (404, 405, 413, 415 decided from the headers): the reply goes out before the body
 * is read only when the client asked for "Expect: 100-continue" (it has not sent the body yet) or
 * announced more than DISCARD_LIMIT. Otherwise the body is read and dropped first, so that a
 * client still writing reads a clean reply instead of a connection reset, and keep-alive works.
 * A chunked body that runs past DISCARD_LIMIT closes the connection.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "http/validate.h"

#define DISCARD_LIMIT (32u << 20)

/* The first allocation of a request body: the API's JSON bodies fit in it, and doubling from there
 * reaches ESYNC_HTTP_BODY_LIMIT in eight steps. */
#define BODY_INITIAL_CAP 4096

struct esync_http {
    struct MHD_Daemon *daemon;
    esync_http_options opt;
    _Atomic unsigned inflight; /* requests begun and not completed (written by the epoll thread) */
};

enum req_state {
    REQ_READING,    /* headers seen, collecting the body */
    REQ_DISCARDING, /* body over the limit: dropping it, the reply (413) is set */
    REQ_DISPATCHED, /* dispatch ran; reply set or request suspended */
    REQ_QUEUED      /* reply handed to libmicrohttpd */
};

struct esync_req {
    esync_http *http;
    struct MHD_Connection *conn;
    enum req_state state;
    unsigned method;
    char method_text[16];
    char *path;
    esync_route_match route;
    char *body;
    size_t body_len, body_cap;
    unsigned long long received; /* all body bytes seen, kept or not */
    bool suspended_now;          /* set by esync_req_suspend during this callback */
    struct timespec start;
    /* the reply */
    int status;
    struct MHD_Response *resp;
    unsigned long long resp_bytes;
};

static double elapsed_ms(const struct timespec *a) {
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* --- the request API ------------------------------------------------------------------------- */

const char *esync_req_path(const esync_req *r) { return r->path; }

unsigned esync_req_method(const esync_req *r) { return r->method; }

const esync_route_match *esync_req_route(const esync_req *r) { return &r->route; }

const char *esync_req_body(const esync_req *r, size_t *len) {
    *len = r->body_len;
    return r->body ? r->body : "";
}

const char *esync_req_header(esync_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *esync_req_query(esync_req *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct arg_each {
    esync_req_arg_fn fn;
    void *cls;
} arg_each;

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value) {
    (void)kind;
    arg_each *a = cls;
    a->fn(a->cls, key, value);
    return MHD_YES;
}

void esync_req_query_each(esync_req *r, esync_req_arg_fn fn, void *cls) {
    arg_each a = {fn, cls};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, on_arg, &a);
}

bool esync_req_has_reply(const esync_req *r) { return r->resp != NULL; }

typedef struct header_find {
    const char *name;
    char *found_name, *found_value; /* copies */
} header_find;

static enum MHD_Result on_header_find(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
    (void)kind;
    header_find *f = cls;
    if (strcasecmp(key, f->name) != 0) return MHD_YES;
    f->found_name = esync__xstrdup(key);
    f->found_value = esync__xstrdup(value ? value : "");
    return MHD_NO;
}

void esync_req_set_header(esync_req *r, const char *name, const char *value) {
    if (!r->resp) return;
    /* deleting takes the exact name and value: find them whatever their case */
    for (;;) {
        header_find f = {name, NULL, NULL};
        MHD_get_response_headers(r->resp, on_header_find, &f);
        if (!f.found_name) break;
        bool deleted = MHD_del_response_header(r->resp, f.found_name, f.found_value) == MHD_YES;
        free(f.found_name);
        free(f.found_value);
        if (!deleted) break;
    }
    MHD_add_response_header(r->resp, name, value);
}

void esync_req_reply_response(esync_req *r, int status, struct MHD_Response *resp,
                              unsigned long long bytes) {
    if (r->resp) {
        /* A second reply is a bug in a handler; keep the first, never crash on it. */
        esync_log_error("internal: second reply (%d) for %s ignored", status, r->path);
        MHD_destroy_response(resp);
        return;
    }
    r->status = status;
    r->resp = resp;
    r->resp_bytes = bytes;
}

void esync_req_reply(esync_req *r, int status, const char *content_type, char *body, size_t len) {
    static char empty[1];
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body ? body : empty, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        fprintf(stderr, "electric-sync-server: out of memory (response)\n");
        abort();
    }
    if (content_type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    esync_req_reply_response(r, status, resp, len);
}

void esync_req_reply_json(esync_req *r, int status, const char *json) {
    size_t n = strlen(json);
    esync_req_reply(r, status, "application/json", esync__xstrndup(json, n), n);
}

/* Appends s to the JSON string being built in out (quotes not included). */
static size_t json_escape(char *out, size_t cap, size_t w, const char *s) {
    for (; *s && w + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[w++] = '\\';
            out[w++] = (char)c;
        } else if (c < 0x20) {
            w += (size_t)snprintf(out + w, cap - w, "\\u%04x", c);
        } else {
            out[w++] = (char)c;
        }
    }
    return w;
}

void esync_req_reply_error(esync_req *r, int status, const char *code, const char *fmt, ...) {
    char msg[512], out[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t w = (size_t)snprintf(out, sizeof out, "{\"error\":{\"code\":\"");
    w = json_escape(out, sizeof out, w, code);
    w += (size_t)snprintf(out + w, sizeof out - w, "\",\"message\":\"");
    w = json_escape(out, sizeof out, w, msg);
    snprintf(out + w, sizeof out - w, "\"}}");
    esync_req_reply_json(r, status, out);
}

void esync_req_suspend(esync_req *r) {
    r->suspended_now = true;
    MHD_suspend_connection(r->conn);
}

void esync_req_resume(esync_req *r) { MHD_resume_connection(r->conn); }

/* --- libmicrohttpd callbacks ----------------------------------------------------------------- */

static enum MHD_Result queue_reply(esync_req *r) {
    if (!r->resp) {
        esync_log_error("internal: no reply for %s %s", r->method_text, r->path);
        esync_req_reply_error(r, 500, "internal_error", "the server produced no reply");
    }
    r->state = REQ_QUEUED;
    return MHD_queue_response(r->conn, (unsigned)r->status, r->resp);
}

/* Decides, once a reply is already set (an error found from the headers), whether it goes out
 * now or after the body has been read and dropped. Now: when the client waits for
 * "100-continue" (it has sent nothing yet) or announced more than DISCARD_LIMIT. After: otherwise,
 * so that a client still writing its body reads the reply instead of a connection reset, and the
 * connection stays usable. Returns true for "now". */
static bool reply_early(esync_req *r, unsigned long long declared) {
    const char *expect = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_EXPECT);
    if ((expect && strcasecmp(expect, "100-continue") == 0) || declared > DISCARD_LIMIT)
        return true;
    r->state = REQ_DISCARDING;
    return false;
}

/* First call, headers only: route, Content-Type, Content-Length. Returns true when a reply was
 * set that should go out before the body is read. */
static bool on_headers(esync_req *r) {
    esync_http *h = r->http;
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    unsigned long long declared = 0;
    if (cl)
        declared = strtoull(cl, NULL, 10); /* libmicrohttpd has already refused a malformed one */
    bool has_body = declared > 0 || (te && strcasecmp(te, "identity") != 0);

    int rc = esync_route_find(r->method, r->path, h->opt.routes, &r->route);
    if (rc == 404) {
        esync_req_reply_error(r, 404, "not_found", "no route for %s %.200s", r->method_text,
                              r->path);
        return reply_early(r, declared);
    }
    if (rc == 405) {
        char allow[64];
        esync_method_list(r->route.allow, allow, sizeof allow);
        esync_req_reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)",
                              r->method_text, allow);
        MHD_add_response_header(r->resp, MHD_HTTP_HEADER_ALLOW, allow);
        return reply_early(r, declared);
    }
    if (r->route.body == ESYNC_BODY_REQUIRED ||
        (r->route.body == ESYNC_BODY_OPTIONAL && has_body)) {
        const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE);
        esync_ctype k = esync_ctype_classify(ct);
        if (k != ESYNC_CTYPE_JSON) {
            esync_req_reply_error(r, 415, "unsupported_media_type",
                                  "the body must be sent as application/json%s",
                                  k == ESYNC_CTYPE_MISSING ? " (no Content-Type header)" : "");
            return reply_early(r, declared);
        }
    }
    if (declared > ESYNC_HTTP_BODY_LIMIT) {
        esync_req_reply_error(r, 413, "payload_too_large", "request bodies are limited to %u bytes",
                              ESYNC_HTTP_BODY_LIMIT);
        return reply_early(r, declared);
    }
    return false;
}

/* Body bytes: keep them under the limit, count and drop them past it. Returns false to abort the
 * connection (a chunked body past DISCARD_LIMIT). */
static bool on_body(esync_req *r, const char *data, size_t n) {
    r->received += n;
    if (r->state == REQ_DISCARDING) return r->received <= DISCARD_LIMIT;
    if (r->body_len + n > ESYNC_HTTP_BODY_LIMIT) { /* chunked, or more than announced */
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        esync_req_reply_error(r, 413, "payload_too_large", "request bodies are limited to %u bytes",
                              ESYNC_HTTP_BODY_LIMIT);
        r->state = REQ_DISCARDING;
        return r->received <= DISCARD_LIMIT;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : BODY_INITIAL_CAP;
        while (cap < r->body_len + n + 1) cap *= 2;
        r->body = esync__xrealloc(r->body, cap);
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **ctx) {
    (void)version;
    esync_http *h = cls;
    esync_req *r = *ctx;
    if (!r) {
        r = esync__xcalloc(1, sizeof *r);
        *ctx = r;
        atomic_fetch_add(&h->inflight, 1);
        r->http = h;
        r->conn = conn;
        clock_gettime(CLOCK_MONOTONIC, &r->start);
        r->method = esync_method_parse(method);
        snprintf(r->method_text, sizeof r->method_text, "%s", method);
        r->path = esync__xstrdup(url);
        r->state = REQ_READING;
        if (on_headers(r)) return queue_reply(r);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        bool ok = on_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    switch (r->state) {
    case REQ_READING:
        r->state = REQ_DISPATCHED;
        r->suspended_now = false;
        h->opt.dispatch(h->opt.app, r);
        if (r->suspended_now) {
            /* Another thread holds r now and may already have resumed it: touch nothing. */
            return MHD_YES;
        }
        return queue_reply(r);
    case REQ_DISCARDING: return queue_reply(r);
    case REQ_DISPATCHED:
        /* Called again after esync_req_resume: the holder has replied. */
        return queue_reply(r);
    case REQ_QUEUED: return MHD_YES;
    }
    return MHD_NO;
}

static void client_text(struct MHD_Connection *conn, char *buf, size_t n) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, n, "-");
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                  (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                  (socklen_t)n);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                         enum MHD_RequestTerminationCode toe) {
    esync_http *h = cls;
    esync_req *r = *ctx;
    if (!r) return;
    atomic_fetch_sub(&h->inflight, 1);
    static const char *const notes[] = {
        [MHD_REQUEST_TERMINATED_COMPLETED_OK] = NULL,
        [MHD_REQUEST_TERMINATED_WITH_ERROR] = "error",
        [MHD_REQUEST_TERMINATED_TIMEOUT_REACHED] = "timeout",
        [MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN] = "shutdown",
        [MHD_REQUEST_TERMINATED_READ_ERROR] = "client-closed",
        [MHD_REQUEST_TERMINATED_CLIENT_ABORT] = "client-aborted",
    };
    const char *note = (unsigned)toe < sizeof notes / sizeof notes[0] ? notes[toe] : "error";
    char client[INET6_ADDRSTRLEN + 1];
    client_text(conn, client, sizeof client);
    bool sent = r->state == REQ_QUEUED;
    esync_log_access(client, r->method_text, r->path, sent ? r->status : 0,
                     sent ? r->resp_bytes : 0, elapsed_ms(&r->start), note);
    if (r->resp) MHD_destroy_response(r->resp);
    free(r->body);
    free(r->path);
    free(r);
    *ctx = NULL;
}

static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s) {
    (void)cls;
    (void)conn;
    return esync_url_unescape(s);
}

/* libmicrohttpd's own log callback: its format strings come from the library, not from input. */
#if defined(__clang__)
__attribute__((format(printf, 2, 0)))
#endif
static void
on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    esync_log_warn("http: %s", msg);
}

esync_http *esync_http_start(const esync_http_options *opt, char *err, size_t errsz) {
    esync_http *h = esync__xcalloc(1, sizeof *h);
    h->opt = *opt;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    memset(&sin, 0, sizeof sin);
    memset(&sin6, 0, sizeof sin6);
    if (inet_pton(AF_INET, opt->host, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)opt->port);
        sa = (struct sockaddr *)&sin;
    } else if (inet_pton(AF_INET6, opt->host, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t)opt->port);
        sa = (struct sockaddr *)&sin6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errsz, "HOST '%s' is not a numeric IPv4 or IPv6 address", opt->host);
        free(h);
        return NULL;
    }
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)opt->port, NULL, NULL, on_request, h,
        /* The logger first: options before it would log through libmicrohttpd's own. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)opt->timeout_seconds,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)opt->max_connections,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, h,
        MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errsz, "cannot listen on %s port %u (in use, or not allowed)", opt->host,
                 opt->port);
        free(h);
        return NULL;
    }
    return h;
}

void esync_http_quiesce(esync_http *h) {
    MHD_socket s = MHD_quiesce_daemon(h->daemon);
    if (s != MHD_INVALID_SOCKET) close(s);
}

bool esync_http_drain(esync_http *h, unsigned timeout_ms) {
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (unsigned waited = 0; atomic_load(&h->inflight) > 0; waited += 10) {
        if (waited >= timeout_ms) return false;
        nanosleep(&tick, NULL);
    }
    return true;
}

void esync_http_stop(esync_http *h) {
    MHD_stop_daemon(h->daemon);
    free(h);
}
