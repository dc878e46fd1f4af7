/* Static files of web/ and the wasm build, served from the epoll thread (a local open and fstat;
 * the body is sent from the file descriptor by libmicrohttpd). */
#ifndef ESYNC_SERVER_STATIC_H
#define ESYNC_SERVER_STATIC_H

#include "http/http.h"

/* Replies to a GET/HEAD with the file the path names, or 404 (JSON envelope). */
void esync_static_serve(esync_req *r, const char *web_dir, const char *wasm_dir);

#endif
