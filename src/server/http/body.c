/* Request body validation (see body.h). The pre-scan runs before cJSON so that the parser never
 * sees input it would accept too leniently (raw control characters in strings, \u0000 that
 * silently truncates a string) or recurse deeply on. */
#include "http/body.h"

#include <cJSON.h>
#include <math.h>
#include <string.h>

#include "http/validate.h"

/* One pass over the bytes outside and inside strings: depth, NULs, control characters. */
static int prescan(const char *s, size_t n, esync_error *err) {
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0) return esync_error_set(err, 400, "invalid_json", "body contains a NUL byte");
        if (in_str) {
            if (c == '"') {
                in_str = false;
            } else if (c == '\\') {
                if (i + 1 >= n) break; /* truncated: cJSON reports it */
                if (s[i + 1] == 'u' && n - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0)
                    return esync_error_set(err, 400, "invalid_json",
                                           "strings must not contain \\u0000");
                i++;
            } else if (c < 0x20) {
                return esync_error_set(err, 400, "invalid_json",
                                       "unescaped control character in a string");
            }
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > ESYNC_BODY_MAX_DEPTH)
                return esync_error_set(err, 400, "invalid_json", "JSON nested deeper than %d",
                                       ESYNC_BODY_MAX_DEPTH);
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

int esync_body_parse(const char *body, size_t len, cJSON **out, esync_error *err) {
    *out = NULL;
    if (len == 0) return esync_error_set(err, 400, "invalid_json", "request body is empty");
    if (!esync_utf8_valid(body, len))
        return esync_error_set(err, 400, "invalid_json", "request body is not valid UTF-8");
    if (prescan(body, len, err) != 0) return -1;
    const char *end = NULL;
    cJSON *tree = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!tree) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        return esync_error_set(err, 400, "invalid_json", "malformed JSON near byte %zu", at);
    }
    for (const char *p = end; p < body + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(tree);
            return esync_error_set(err, 400, "invalid_json",
                                   "unexpected data after the JSON value");
        }
    }
    *out = tree;
    return 0;
}

/* The generic object checks: an object, members only from `allowed`, none twice. */
static int check_object(const cJSON *tree, const char *const *allowed, esync_error *err) {
    if (!cJSON_IsObject(tree))
        return esync_error_set(err, 400, "invalid_body", "request body must be a JSON object");
    for (const cJSON *m = tree->child; m; m = m->next) {
        bool known = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(m->string, *a) == 0) known = true;
        if (!known)
            return esync_error_set(err, 400, "invalid_body", "unknown field \"%.64s\"", m->string);
        for (const cJSON *o = tree->child; o != m; o = o->next)
            if (strcmp(o->string, m->string) == 0)
                return esync_error_set(err, 400, "invalid_body", "duplicate field \"%.64s\"",
                                       m->string);
    }
    return 0;
}

static int item_fields(const cJSON *tree, bool create, esync_item_input *in, esync_error *err) {
    static const char *const create_fields[] = {"id", "title", "description", "completed", NULL};
    static const char *const update_fields[] = {"title", "description", "completed", NULL};
    if (check_object(tree, create ? create_fields : update_fields, err) != 0) return -1;

    const cJSON *id = cJSON_GetObjectItemCaseSensitive(tree, "id");
    if (id) {
        if (!cJSON_IsString(id) || !esync_uuid_valid(id->valuestring))
            return esync_error_set(err, 400, "invalid_id", "\"id\" must be a UUID string");
        in->has_id = true;
        memcpy(in->id, id->valuestring, 37);
    }
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(tree, "title");
    if (title) {
        if (!cJSON_IsString(title))
            return esync_error_set(err, 400, "invalid_body", "\"title\" must be a string");
        if (title->valuestring[0] == '\0')
            return esync_error_set(err, 400, "invalid_body", "\"title\" must not be empty");
        in->has_title = true;
        in->title = title->valuestring;
    } else if (create) {
        return esync_error_set(err, 400, "invalid_body", "\"title\" is required");
    }
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(tree, "description");
    if (desc) {
        if (cJSON_IsNull(desc)) {
            in->description = NULL;
        } else if (cJSON_IsString(desc)) {
            in->description = desc->valuestring;
        } else {
            return esync_error_set(err, 400, "invalid_body",
                                   "\"description\" must be a string or null");
        }
        in->has_description = true;
    }
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(tree, "completed");
    if (done) {
        if (!cJSON_IsBool(done))
            return esync_error_set(err, 400, "invalid_body", "\"completed\" must be a boolean");
        in->has_completed = true;
        in->completed = cJSON_IsTrue(done);
    }
    return 0;
}

int esync_body_item(const char *body, size_t len, bool create, esync_item_input *in,
                    esync_error *err) {
    memset(in, 0, sizeof *in);
    cJSON *tree;
    if (esync_body_parse(body, len, &tree, err) != 0) return -1;
    if (item_fields(tree, create, in, err) != 0) {
        cJSON_Delete(tree);
        memset(in, 0, sizeof *in);
        return -1;
    }
    in->tree = tree;
    return 0;
}

void esync_item_input_free(esync_item_input *in) {
    cJSON_Delete(in->tree);
    memset(in, 0, sizeof *in);
}

int esync_body_seed(const char *body, size_t len, int *count, esync_error *err) {
    static const char *const fields[] = {"count", NULL};
    *count = ESYNC_SEED_DEFAULT;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
        i++;
    if (i == len) return 0; /* no body: the default */
    cJSON *tree;
    if (esync_body_parse(body, len, &tree, err) != 0) return -1;
    int rc = check_object(tree, fields, err);
    const cJSON *c = rc == 0 ? cJSON_GetObjectItemCaseSensitive(tree, "count") : NULL;
    if (c) {
        /* An integral number in range; 1e3 and 10.0 are integers, 1.5 and 1e400 are not. */
        double v = c->valuedouble;
        if (!cJSON_IsNumber(c) || !isfinite(v) || v != floor(v) || v < 1 || v > ESYNC_SEED_MAX)
            rc = esync_error_set(err, 400, "invalid_body",
                                 "\"count\" must be an integer from 1 to %d", ESYNC_SEED_MAX);
        else
            *count = (int)v;
    }
    cJSON_Delete(tree);
    return rc;
}
