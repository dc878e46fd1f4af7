/*
 * memcpy.c — memcpy for the wasm build: one memory.copy (the module is built with -mbulk-memory,
 * which lowers __builtin_memcpy to that instruction whatever the size).
 *
 * emscripten 3.1.6's libc memcpy (a weak symbol, which this one replaces) hands every copy of 512
 * bytes or more to JS through an import (HEAPU8.copyWithin): a wasm-to-JS call each time. Our code
 * and SQLite, compiled with -mbulk-memory, copy with memory.copy already; the prebuilt libc does
 * not: dlmalloc's realloc, which moves a growing change set or message array, spent ~20 ms of a
 * 100k-row initial sync in those calls.
 */
#include <string.h>

void *memcpy(void *restrict dest, const void *restrict src, size_t n) {
    return __builtin_memcpy(dest, src, n);
}
