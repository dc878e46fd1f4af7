/*
 * The inserts of a response put in key order before they are applied (src/core/order.c): text
 * keys by bytes, integer keys by value, NULL first, stable for equal keys, other messages where
 * they were, small or already ordered responses left alone.
 */
#include "esync.h"
#include "harness.h"
#include "msgparse.h"
#include "order.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct body {
    char *s;
    size_t len, cap;
} body;

static void put(body *b, const char *text) {
    size_t n = strlen(text);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->cap + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, text, n + 1);
    b->len += n;
}

/* An insert message (id: JSON text of the value), after a comma unless it is the first. */
static void insert(body *b, const char *id, const char *tag) {
    char tmp[256];
    snprintf(tmp, sizeof tmp,
             "%s{\"key\":\"k\",\"value\":{\"id\":%s,\"tag\":\"%s\"},"
             "\"headers\":{\"operation\":\"insert\"}}",
             b->len > 1 ? "," : "", id, tag);
    put(b, tmp);
}

static void control(body *b, const char *what) {
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s{\"headers\":{\"control\":\"%s\"}}", b->len > 1 ? "," : "", what);
    put(b, tmp);
}

static esync_schema schema(const char *idtype) {
    char text[256];
    snprintf(text, sizeof text,
             "{\"id\":{\"type\":\"%s\",\"pk_index\":0},\"tag\":{\"type\":\"text\"}}", idtype);
    esync_schema sc;
    char err[200];
    int rc = esync__schema_parse(text, &sc, err, sizeof err);
    CHECK(rc == ESYNC_OK);
    return sc;
}

/* The field `name` of message i (NULL when absent or not a string). */
static const char *field(const esync_msgs *ms, size_t i, const char *name) {
    const esync_msg *m = &ms->m[i];
    for (uint32_t k = 0; k < m->nfields; k++)
        if (!strcmp(ms->f[m->field0 + k].name, name)) return ms->f[m->field0 + k].text;
    return NULL;
}

static void parse(body *b, esync_msgs *ms) {
    put(b, "]");
    size_t at = 0;
    CHECK(esync__msgs_parse(ms, (const uint8_t *)b->s, b->len, &at) == ESYNC_OK);
}

/* uuid-like text keys in a scrambled order, a control message in the middle and one at the
 * end, two inserts of one key: in byte order after, the controls in place, the two of one key
 * in their order. */
static void test_text_keys(void) {
    esync_schema sc = schema("uuid");
    body b = {0};
    put(&b, "[");
    char id[64], tag[16];
    for (int i = 0; i < 200; i++) {
        unsigned v = (unsigned)(i * 2654435761u);
        snprintf(id, sizeof id, "\"%08x-0000-4000-8000-%012d\"", v, i);
        snprintf(tag, sizeof tag, "t%d", i);
        insert(&b, id, tag);
        if (i == 100) control(&b, "snapshot-middle");
    }
    insert(&b, "\"0000000-dup\"", "first");
    insert(&b, "\"0000000-dup\"", "second");
    control(&b, "snapshot-end");
    esync_msgs ms;
    parse(&b, &ms);
    CHECK(ms.n == 204);
    CHECK(esync__order_inserts(&ms, &sc) == ESYNC_OK);
    CHECK(ms.m[101].control_kind == ESYNC_JSON_STRING &&
          !strcmp(ms.m[101].control, "snapshot-middle"));
    CHECK(ms.m[203].control_kind == ESYNC_JSON_STRING &&
          !strcmp(ms.m[203].control, "snapshot-end"));
    const char *prev = NULL;
    size_t n = 0;
    for (size_t i = 0; i < ms.n; i++) {
        if (ms.m[i].control_kind != ESYNC_JSON_ABSENT) continue;
        const char *cur = field(&ms, i, "id");
        CHECK(cur != NULL);
        if (prev && cur) CHECK(strcmp(prev, cur) <= 0);
        prev = cur;
        n++;
    }
    CHECK(n == 202);
    /* the key "0000000-dup" sorts first: its two inserts, in their order */
    CHECK(!strcmp(field(&ms, 0, "id"), "0000000-dup") && !strcmp(field(&ms, 0, "tag"), "first"));
    CHECK(!strcmp(field(&ms, 1, "id"), "0000000-dup") && !strcmp(field(&ms, 1, "tag"), "second"));
    esync__msgs_free(&ms);
    esync__schema_free(&sc);
    free(b.s);
}

/* int8 keys by value (9 before 10 before 100, negatives first), NULL before them, a key that is
 * no integer after them as text. */
static void test_integer_keys(void) {
    esync_schema sc = schema("int8");
    body b = {0};
    put(&b, "[");
    char id[32], tag[16];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "\"%d\"", (i * 37) % 100 - 20);
        snprintf(tag, sizeof tag, "t%d", i);
        insert(&b, id, tag);
    }
    insert(&b, "null", "null");
    insert(&b, "\"99999999999999999999\"", "big"); /* over 18 digits: compared as text */
    esync_msgs ms;
    parse(&b, &ms);
    CHECK(esync__order_inserts(&ms, &sc) == ESYNC_OK);
    CHECK(!strcmp(field(&ms, 0, "tag"), "null"));
    for (size_t i = 1; i <= 100; i++) CHECK(atoi(field(&ms, i, "id")) == (int)i - 1 - 20);
    CHECK(!strcmp(field(&ms, 101, "tag"), "big"));
    esync__msgs_free(&ms);
    esync__schema_free(&sc);
    free(b.s);
}

/* Fewer than ESYNC_ORDER_MIN inserts, or inserts in order already: untouched. */
static void test_left_alone(void) {
    esync_schema sc = schema("int4");
    for (int round = 0; round < 2; round++) {
        body b = {0};
        put(&b, "[");
        int n = round ? 500 : ESYNC_ORDER_MIN - 1;
        char id[32], tag[16];
        for (int i = 0; i < n; i++) {
            snprintf(id, sizeof id, "\"%d\"", round ? i : n - i);
            snprintf(tag, sizeof tag, "t%d", i);
            insert(&b, id, tag);
        }
        esync_msgs ms;
        parse(&b, &ms);
        CHECK(esync__order_inserts(&ms, &sc) == ESYNC_OK);
        for (int i = 0; i < n; i++) {
            snprintf(tag, sizeof tag, "t%d", i);
            CHECK(!strcmp(field(&ms, (size_t)i, "tag"), tag));
        }
        esync__msgs_free(&ms);
        free(b.s);
    }
    esync__schema_free(&sc);
}

int main(void) {
    CHECK(esync_initialize() == ESYNC_OK); /* the allocator hooks the schema parser uses */
    test_text_keys();
    test_integer_keys();
    test_left_alone();
    if (!harness_failures) printf("test_order: ok\n");
    return harness_result();
}
