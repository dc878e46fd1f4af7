/* Static files: from a decoded URL path to a file under one of the served roots, and the
 * Content-Type of a file name. Pure string work (the fuzzer runs it); static.c does the I/O.
 *
 * Traversal is refused here by construction: every segment must be a plain name (no "", ".",
 * "..", no leading dot, no backslash, no control character), so the relative path can only name
 * something inside the root. static.c checks again with realpath() against symlinks.
 */
#ifndef ESYNC_SERVER_STATIC_PATH_H
#define ESYNC_SERVER_STATIC_PATH_H

#include <stddef.h>

typedef enum esync_static_root {
    ESYNC_ROOT_WEB, /* web/ */
    ESYNC_ROOT_WASM /* build/wasm/: only electric-sync.js and electric-sync.wasm, at /wasm/ */
} esync_static_root;

/* Resolves a URL path. On success returns 0, sets *root and writes the path relative to that root
 * into rel ("index.html" for "/", "dir/index.html" for "/dir/"). Returns -1 for a path that no
 * file may answer (the caller replies 404). */
int esync_static_resolve(const char *url_path, esync_static_root *root, char *rel, size_t n);

/* Content-Type for a file name, by extension (application/octet-stream when unknown). */
const char *esync_static_mime(const char *name);

#endif
