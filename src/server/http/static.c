/* Static file replies (see static.h and static_path.h for the path rules). A directory answers
 * with its index.html, so /dev/sync-test serves web/dev/sync-test/index.html. realpath() must stay
 * inside the root, which also refuses symlinks that point out of it. Every file carries an ETag
 * (size and modification time), so "no-cache" revalidates with a 304: the browser keeps its cached
 * response, and Chromium with it the code it compiled from the .wasm (its wasm code cache is used
 * only for a response that comes from the HTTP cache). */
#include "http/static.h"

#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/static_path.h"

/* The longest path of a static file relative to its root (the URL path): longer ones are 404. */
#define REL_MAX 1024

static bool inside(const char *root, const char *path) {
    char rr[PATH_MAX], rp[PATH_MAX];
    if (!realpath(root, rr) || !realpath(path, rp)) return false;
    size_t n = strlen(rr);
    return strncmp(rr, rp, n) == 0 && rp[n] == '/';
}

/* Opens a regular file under root; a directory is replaced by its index.html once. */
static int open_under(const char *root, const char *rel, char *full, size_t n, struct stat *st) {
    int w = snprintf(full, n, "%s/%s", root, rel);
    if (w < 0 || (size_t)w >= n) return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) return -1;
        if (fstat(fd, st) != 0) {
            close(fd);
            return -1;
        }
        if (S_ISREG(st->st_mode)) {
            if (!inside(root, full)) {
                close(fd);
                return -1;
            }
            return fd;
        }
        close(fd);
        if (!S_ISDIR(st->st_mode) || attempt > 0) return -1;
        size_t used = strlen(full);
        if (used + sizeof "/index.html" > n) return -1;
        memcpy(full + used, "/index.html", sizeof "/index.html");
    }
    return -1;
}

void esync_static_serve(esync_req *r, const char *web_dir, const char *wasm_dir) {
    /* full: the root (a configured directory), '/', rel, and "/index.html" for a directory */
    char rel[REL_MAX], full[PATH_MAX + 1 + REL_MAX + sizeof "/index.html"];
    esync_static_root root;
    struct stat st;
    int fd = -1;
    if (esync_static_resolve(esync_req_path(r), &root, rel, sizeof rel) == 0)
        fd = open_under(root == ESYNC_ROOT_WASM ? wasm_dir : web_dir, rel, full, sizeof full, &st);
    if (fd < 0) {
        esync_req_reply_error(r, 404, "not_found", "no such file");
        return;
    }
    char etag[80];
    snprintf(etag, sizeof etag, "\"%llx-%llx.%lx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec);
    const char *inm = esync_req_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0)) {
        close(fd);
        struct MHD_Response *nm = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!nm) {
            esync_req_reply_error(r, 500, "internal_error", "cannot answer");
            return;
        }
        MHD_add_response_header(nm, MHD_HTTP_HEADER_ETAG, etag);
        MHD_add_response_header(nm, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        esync_req_reply_response(r, 304, nm, 0);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        esync_req_reply_error(r, 500, "internal_error", "cannot send the file");
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, esync_static_mime(full));
    /* Development assets change under the server: always revalidate. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    esync_req_reply_response(r, 200, resp, (unsigned long long)st.st_size);
}
