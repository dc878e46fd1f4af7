/* libFuzzer target: the replication stream decoder (src/server/pg/pgoutput.c), which reads bytes
 * from the Postgres walsender. Each input is decoded as a CopyData frame and, whatever the frame
 * says, also as a bare pgoutput message; a 'w' frame's payload is decoded too. Besides crashes and
 * sanitizer reports, the target aborts when a decoded message breaks a promise its users rely on:
 * every name and value points inside the input, names are NUL-terminated there, tuples have the
 * counts they claim. Replayed from fuzz/corpus/server_pgoutput/ by ctest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pg/pgoutput.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static const uint8_t *lo, *hi;

static void inside(const void *p, size_t n) {
    const uint8_t *q = p;
    CHECK(q >= lo && q + n <= hi);
}

static void check_str(const char *s) {
    inside(s, 1);
    inside(s, strlen(s) + 1);
}

static void check_tuple(const esync_pgo_tuple *t) {
    for (uint16_t i = 0; i < t->ncols; i++) {
        const esync_pgo_value *v = &t->cols[i];
        CHECK(v->kind == 'n' || v->kind == 'u' || v->kind == 't' || v->kind == 'b');
        if (v->kind == 't' || v->kind == 'b')
            inside(v->data, v->len);
        else
            CHECK(v->data == NULL && v->len == 0);
    }
}

static void decode(const uint8_t *p, size_t n, esync_pgo_msg *m) {
    lo = p;
    hi = p + n;
    if (esync_pgo_decode(p, n, m) != 0) return;
    switch (m->tag) {
    case 'O': check_str(m->u.origin.name); break;
    case 'R':
        check_str(m->u.relation.nspname);
        check_str(m->u.relation.relname);
        for (uint16_t i = 0; i < m->u.relation.ncols; i++) check_str(m->u.relation.cols[i].name);
        break;
    case 'Y':
        check_str(m->u.type.nspname);
        check_str(m->u.type.typname);
        break;
    case 'I':
    case 'U':
    case 'D':
        check_tuple(&m->u.change.old_tuple);
        check_tuple(&m->u.change.new_tuple);
        CHECK(m->tag != 'I' || m->u.change.old_kind == 0);
        CHECK(m->tag != 'D' || m->u.change.new_tuple.ncols == 0);
        break;
    case 'T':
        inside(m->u.truncate.relids_be, (size_t)m->u.truncate.nrels * 4);
        for (uint32_t i = 0; i < m->u.truncate.nrels; i++) (void)esync_pgo_truncate_relid(m, i);
        break;
    case 'M':
        check_str(m->u.message.prefix);
        inside(m->u.message.content, m->u.message.len);
        break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    esync_pgo_msg m = {0};
    esync_pgo_frame f;
    if (esync_pgo_frame_decode(data, size, &f) == 0 && f.kind == 'w') {
        CHECK(f.payload >= data && f.payload + f.payload_len == data + size);
        decode(f.payload, f.payload_len, &m);
    }
    decode(data, size, &m);
    esync_pgo_msg_free(&m);
    return 0;
}
