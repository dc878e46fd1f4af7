/* The query parameters of GET/HEAD /v1/shape (docs/protocol.md §1.2-§1.3), parsed into a
 * shape request, with Electric's 400 envelope for every malformed one. Pure: no I/O, no catalog
 * (the table's existence, its columns and the where clause are checked later, against Postgres).
 *
 * Checks, errors accumulated per field as Electric's changeset does: offset (required; -1, now,
 * <tx>_<op>, <tx>_inf, leading zeros allowed), handle (required unless -1/now, dropped for them),
 * live (any value but "false" is true; forbidden with -1 and now), live_sse (needs live; not
 * served: long-poll is used), table (required, identifier syntax), columns (list syntax),
 * params[n] (numeric keys, 1..n), replica (default|full), log (full only), subset__* (not served).
 */
#ifndef ESYNC_SERVER_SHAPE_PARAMS_H
#define ESYNC_SERVER_SHAPE_PARAMS_H

#include <stddef.h>

#include "shape/service.h"

typedef struct esync_params_kv {
    const char *key;
    const char *value; /* NULL for a key without '=' */
} esync_params_kv;

/* Returns 0 with a new request in *out (its definition and position filled; the caller sets
 * done/park/ctx), and the secret parameter (secret or api_secret, malloc'ed, NULL when absent) in
 * *secret. Returns 400 with the JSON body in *err_json (malloc'ed) otherwise (*secret is set
 * then too: the secret is checked before the parameters). */
int esync__params_parse(const esync_params_kv *kv, size_t n, esync_shape_req **out, char **secret,
                        char **err_json);

/* The value of the first `key` in kv (NULL when absent; *present tells a bare key apart). */
const char *esync__params_kv_get(const esync_params_kv *kv, size_t n, const char *key,
                                 int *present);

/* Offset text -> kind and offset. Returns 0 or -1 (has invalid format). */
int esync__params_offset_parse(const char *text, enum esync_offset_kind *kind, esync_offset *o);

#endif
