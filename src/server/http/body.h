/* JSON request bodies: the checks every body goes through, and the schema of each route's body.
 *
 * A body is accepted only when it is strict UTF-8, contains no NUL (raw or \u0000, which Postgres
 * text cannot hold), nests at most ESYNC_BODY_MAX_DEPTH deep, parses as exactly one JSON value
 * (cJSON_ParseWithLengthOpts, nothing but whitespace after it), is an object with no duplicate
 * and no unknown member, and every member has the documented type. Every refusal is a 400 with
 * code "invalid_json" (not JSON at all) or "invalid_body" / "invalid_id" (JSON of the wrong shape).
 */
#ifndef ESYNC_SERVER_BODY_H
#define ESYNC_SERVER_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#define ESYNC_BODY_MAX_DEPTH 32
#define ESYNC_SEED_DEFAULT 10
#define ESYNC_SEED_MAX 10000

struct cJSON;

/* Parses and checks the generic rules above. On success *out is the tree (free with cJSON_Delete)
 * and the return is 0; on failure err is filled and the return is -1. */
int esync_body_parse(const char *body, size_t len, struct cJSON **out, esync_error *err);

/* The body of POST /api/test-items (create) or PUT /api/test-items/:id (update). The string
 * pointers borrow from tree and live until esync_item_input_free. */
typedef struct esync_item_input {
    bool has_id;
    char id[37];
    bool has_title;
    const char *title;
    bool has_description;
    const char *description; /* NULL: SQL NULL */
    bool has_completed;
    bool completed;
    struct cJSON *tree;
} esync_item_input;

/* create: {"id"?: uuid, "title": non-empty string, "description"?: string|null, "completed"?: bool}
 * update: any subset of title, description, completed (an empty object only advances updated_at).
 * On failure nothing needs freeing. */
int esync_body_item(const char *body, size_t len, bool create, esync_item_input *out,
                    esync_error *err);
void esync_item_input_free(esync_item_input *in);

/* POST /api/dev/seed and /api/dev/reset: empty body or {"count"?: integer 1..10000}. */
int esync_body_seed(const char *body, size_t len, int *count, esync_error *err);

#endif
