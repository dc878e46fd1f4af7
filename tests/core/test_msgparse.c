/*
 * The zero-copy body parser (src/core/msgparse.c): strict JSON, UTF-8 and escapes, in-place
 * unescaping, message fields in any order.
 */
#include "esync.h"
#include "harness.h"
#include "msgparse.h"

#include <stdio.h>
#include <string.h>

static int parse(const char *s, esync_msgs *m) {
    size_t at = 0;
    return esync__msgs_parse(m, (const uint8_t *)s, strlen(s), &at);
}

static void rejects(const char *s) {
    esync_msgs m;
    int rc = parse(s, &m);
    if (rc != ESYNC_EJSON) harness_fail(__FILE__, __LINE__, s);
    if (rc == ESYNC_OK) esync__msgs_free(&m);
}

static void test_strict(void) {
    const char *bad[] = {"",
                         "[",
                         "]",
                         "[1,]",
                         "[,1]",
                         "{",
                         "[\"a]",
                         "[01]",
                         "[1.]",
                         "[.5]",
                         "[1e]",
                         "[-]",
                         "[+1]",
                         "[tru]",
                         "[nul]",
                         "[\"\\x\"]",
                         "[\"\\u12G4\"]",
                         "[\"\\ud800\"]",
                         "[\"\\udc00\"]",
                         "[\"\\ud800\\u0041\"]",
                         "[\"\\u0000\"]",
                         "[\"a\x01\"]",
                         "[\"\xff\"]",
                         "[\"\xc0\xaf\"]",
                         "[\"\xed\xa0\x80\"]",
                         "[\"\xf4\x90\x80\x80\"]",
                         "[\"\xe2\x82\"]",
                         "[1] x",
                         "[{\"a\" 1}]",
                         "[{\"a\":1,}]",
                         "[{1:2}]",
                         "[[[[",
                         "nul",
                         "[\"\\",
                         "[\"\\u12"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) rejects(bad[i]);
    /* nesting deeper than the limit */
    char deep[1200];
    memset(deep, '[', 600);
    memset(deep + 600, ']', 600);
    deep[1199] = 0;
    deep[1198] = ']';
    esync_msgs m;
    CHECK_EQ_INT(esync__msgs_parse(&m, (const uint8_t *)deep, 1200 - 1, NULL), ESYNC_EJSON);
}

static void test_values(void) {
    esync_msgs m;
    const char *body =
        " [ {\"headers\":{\"operation\":\"insert\",\"relation\":[\"public\",\"t\"],\"lsn\":\"1\",\"last\":true,\"n\":-1.5e+3},"
        "\"value\":{\"a\":\"x\\\"y\\\\z\\/\\b\\f\\n\\r\\t\",\"b\":null,\"c\":\"\\u00e9\\ud83d\\ude00\\u20ac\",\"d\":5,\"e\":{\"x\":[1,{}]}},"
        "\"key\":\"k\",\"value\":{\"ignored\":\"second value object\"},\"extra\":[true,false,null]},"
        "{\"headers\":{\"control\":\"up-to-date\"}}, 7, [] , {\"headers\":5,\"key\":1,\"value\":\"v\"} ] ";
    CHECK_EQ_INT(parse(body, &m), ESYNC_OK);
    CHECK(m.is_array);
    CHECK_EQ_INT(m.n, 5);
    esync_msg *a = &m.m[0];
    CHECK(a->is_object && a->headers_kind == ESYNC_JSON_OBJECT && a->op_kind == ESYNC_JSON_STRING &&
          !strcmp(a->op, "insert"));
    CHECK(a->key_kind == ESYNC_JSON_STRING && !strcmp(a->key, "k"));
    CHECK(a->value_kind == ESYNC_JSON_OBJECT && a->nfields == 5);
    esync_field *f = m.f + a->field0;
    CHECK(!strcmp(f[0].name, "a") && f[0].kind == ESYNC_JSON_STRING &&
          !strcmp(f[0].text, "x\"y\\z/\b\f\n\r\t"));
    CHECK(!strcmp(f[1].name, "b") && f[1].kind == ESYNC_JSON_NULL && f[1].text == NULL);
    CHECK(!strcmp(f[2].text, "\xc3\xa9\xf0\x9f\x98\x80\xe2\x82\xac"));
    CHECK(f[3].kind == ESYNC_JSON_OTHER && f[4].kind == ESYNC_JSON_OBJECT);
    CHECK(m.m[1].control_kind == ESYNC_JSON_STRING && !strcmp(m.m[1].control, "up-to-date") &&
          m.m[1].op_kind == ESYNC_JSON_ABSENT);
    CHECK(!m.m[2].is_object && !m.m[3].is_object);
    CHECK(m.m[4].is_object && m.m[4].headers_kind == ESYNC_JSON_OTHER &&
          m.m[4].key_kind == ESYNC_JSON_OTHER && m.m[4].value_kind == ESYNC_JSON_STRING);
    esync__msgs_free(&m);
    /* a body that is not an array still parses (the caller reports it) */
    CHECK_EQ_INT(parse("{\"a\":1}", &m), ESYNC_OK);
    CHECK(!m.is_array);
    esync__msgs_free(&m);
    CHECK_EQ_INT(parse("\"s\"", &m), ESYNC_OK);
    esync__msgs_free(&m);
    CHECK_EQ_INT(parse("[]", &m), ESYNC_OK);
    CHECK(m.is_array && m.n == 0);
    esync__msgs_free(&m);
    /* many messages and fields: the arrays grow */
    char big[40000];
    size_t n = 0;
    big[n++] = '[';
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(big + n, sizeof big - n,
                              "%s{\"key\":\"k%d\",\"value\":{\"x\":\"%d\"},\"headers\":{}}",
                              i ? "," : "", i, i);
    big[n++] = ']';
    big[n] = 0;
    CHECK_EQ_INT(parse(big, &m), ESYNC_OK);
    CHECK_EQ_INT(m.n, 600);
    CHECK(!strcmp(m.f[m.m[599].field0].text, "599"));
    esync__msgs_free(&m);
}

/* The string scanner reads eight bytes at a time: every kind of byte that ends a plain run (a
 * quote, an escape, a control character, a UTF-8 lead byte) at every position of strings of
 * every length up to 40 is seen, in both parsers. */
static void test_scan_positions(void) {
    const char *specials[] = {"\\\"", "\\n", "\xc3\xa9", "\x01", "\x1f", "\x7f", " ", "~"};
    const char *want[] = {"\"", "\n", "\xc3\xa9", NULL, NULL, "\x7f", " ", "~"};
    for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
        for (int len = 0; len <= 40; len++) {
            for (int at = 0; at <= len; at++) {
                char body[128], expect[128];
                int n = snprintf(body, sizeof body, "[\"%.*s%s%.*s\"]", at,
                                 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                                 specials[k], len - at,
                                 "0123456789012345678901234567890123456789012");
                if (want[k])
                    snprintf(expect, sizeof expect, "%.*s%s%.*s", at,
                             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", want[k],
                             len - at, "0123456789012345678901234567890123456789012");
                for (int inplace = 0; inplace < 2; inplace++) {
                    esync_msgs m;
                    size_t where = 0;
                    char copy[128];
                    memcpy(copy, body, (size_t)n + 1);
                    int rc = inplace
                                 ? esync__msgs_parse_inplace(&m, (uint8_t *)copy, (size_t)n, &where)
                                 : esync__msgs_parse(&m, (const uint8_t *)body, (size_t)n, &where);
                    if (!want[k]) {
                        if (rc != ESYNC_EJSON) harness_fail(__FILE__, __LINE__, body);
                        if (rc == ESYNC_OK) esync__msgs_free(&m);
                        continue;
                    }
                    CHECK_EQ_INT(rc, ESYNC_OK);
                    if (rc) continue;
                    CHECK(m.n == 1);
                    esync__msgs_free(&m);
                }
                /* the unescaped text, through a message field */
                if (!want[k]) continue;
                char msg[256];
                int mn = snprintf(msg, sizeof msg, "[{\"headers\":{},\"value\":{\"x\":%.*s}}]",
                                  n - 2, body + 1);
                esync_msgs m;
                CHECK_EQ_INT(esync__msgs_parse(&m, (const uint8_t *)msg, (size_t)mn, &(size_t){0}),
                             ESYNC_OK);
                if (m.n == 1 && m.m[0].nfields == 1 && strcmp(m.f[m.m[0].field0].text, expect))
                    harness_fail(__FILE__, __LINE__, msg);
                esync__msgs_free(&m);
            }
        }
    }
}

int main(void) {
    test_strict();
    test_values();
    test_scan_positions();
    return harness_result();
}
