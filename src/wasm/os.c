/*
 * os.c — SQLite's OS layer of the browser build (SQLITE_OS_OTHER=1): memvfs is the only VFS,
 * so neither the unix VFS nor emscripten's file system is linked in.
 */
#include "memvfs.h"

int sqlite3_os_init(void) { return esync_memvfs_register(1); }
int sqlite3_os_end(void) { return SQLITE_OK; }
