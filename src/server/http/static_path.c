/* URL path -> served file, and file name -> Content-Type (see static_path.h). */
#include "http/static_path.h"

#include <stdbool.h>
#include <string.h>

static bool segment_ok(const char *s, size_t n) {
    if (n == 0 || s[0] == '.') return false; /* "", ".", "..", dotfiles */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\') return false;
    }
    return true;
}

int esync_static_resolve(const char *path, esync_static_root *root, char *rel, size_t n) {
    if (path[0] != '/' || n == 0) return -1;
    if (strcmp(path, "/wasm/electric-sync.js") == 0 ||
        strcmp(path, "/wasm/electric-sync.wasm") == 0) {
        *root = ESYNC_ROOT_WASM;
        const char *name = path + strlen("/wasm/");
        if (strlen(name) + 1 > n) return -1;
        strcpy(rel, name);
        return 0;
    }
    *root = ESYNC_ROOT_WEB;
    size_t used = 0;
    const char *s = path + 1;
    while (*s) {
        size_t seg = strcspn(s, "/");
        if (!segment_ok(s, seg)) return -1;
        if (used + seg + 2 > n) return -1;
        memcpy(rel + used, s, seg);
        used += seg;
        s += seg;
        if (*s == '/') {
            s++;
            rel[used++] = '/';
        }
    }
    if (used == 0 || rel[used - 1] == '/') {
        static const char index[] = "index.html";
        if (used + sizeof index > n) return -1;
        memcpy(rel + used, index, sizeof index);
        return 0;
    }
    rel[used] = '\0';
    return 0;
}

const char *esync_static_mime(const char *name) {
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".wasm", "application/wasm"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (!dot || (slash && dot < slash)) return "application/octet-stream";
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}
