/*
 * image_write.h — a replica image written directly in SQLite's file format (image_write.c), for
 * the chunks it can write exactly; esync_image_build (image_build.c) builds the others with
 * SQLite.
 */
#ifndef ESYNC_IMAGE_WRITE_H
#define ESYNC_IMAGE_WRITE_H

#include "msgparse.h"
#include "types.h"

#include <stdbool.h>

/* Whether esync_image_build tries image_write.c first (true; tests compare with SQLite's). */
extern bool esync__image_direct;

/* Not an error: this chunk is not one image_write.c writes (nothing was written). */
#define ESYNC_IMAGE_NOT_DIRECT 1

/* Writes the image of the insert messages of ms (in key order: esync__order_inserts) for schema
 * sc to path. ESYNC_OK with *rows set; ESYNC_IMAGE_NOT_DIRECT when the chunk is not one this
 * writes exactly (no primary key, a row out of key order or a key twice, a NULL key, a value
 * whose storage class the column's affinity would change, a record too large for its page, a
 * message that is not an insert); ESYNC_ENOMEM, or ESYNC_ESQLITE when the file cannot be
 * written (message in err; nothing left at path). */
int esync__image_write(const esync_msgs *ms, const esync_schema *sc, const char *path,
                       int64_t *rows, char *err, size_t errlen);

#endif
