/* libFuzzer target: shape where clauses (src/where), from text to AST to eval and SQL.
 *
 * Input: the clause on the first line, then up to three lines of parameter values ($1..$3; a
 * parameter the clause does not use makes the compile fail, which is fine). For every clause that
 * compiles, besides crashes and sanitizer reports, the target aborts when:
 *   - the rendered SQL, compiled again with its bind values as $1..$k, fails or renders differently
 *     (the renderer's output is in the language, and rendering is a fixpoint);
 *   - the two compiled clauses disagree on any test row (the bind values round-trip: they carry the
 *     same values the constants had);
 *   - the column list is not ascending or names a column out of range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "where.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static const esync_where_col cols[] = {
    {"id", "int4", 0},         {"i2", "int2", 0},        {"i8", "int8", 0}, {"n", "numeric", 0},
    {"f4", "float4", 0},       {"f8", "float8", 0},      {"b", "bool", 0},  {"t", "text", 0},
    {"vc", "varchar", 0},      {"bp", "bpchar", 0},      {"u", "uuid", 0},  {"d", "date", 0},
    {"ts", "timestamp", 0},    {"tz", "timestamptz", 0}, {"tm", "time", 0}, {"j", "jsonb", 0},
    {"Mixed Case", "text", 0}, {"arr", "int4", 1},
};
#define NCOLS ((int)(sizeof cols / sizeof cols[0]))

static const char *const rows[][NCOLS] = {
    {"1", "10", "9223372036854775807", "12345678901234567890.123", "1.1", "1.5", "t", "apple",
     "Apple", "ab  ", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2024-01-05", "2024-01-05 10:00:00",
     "2024-01-05 15:30:00+05:30", "10:00:00", "{}", "X", "{1,2}"},
    {"-2", "-5", "-9223372036854775808", "-0.5", "NaN", "-Infinity", "f", "b%n_a\\", "", "x ",
     "00000000-0000-0000-0000-000000000000", "0044-03-15 BC", "infinity", "-infinity",
     "23:59:59.999999", NULL, "\xc3\xa9", NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL},
    {"0", "0", "0", "NaN", "-0", "Infinity", "true", "", "0", "",
     "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "infinity", "1970-01-01 00:00:00",
     "2000-01-01 00:00:00+00", "00:00:00", "1", "", "{}"},
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

static void check_columns(const esync_where *w) {
    const int *c;
    int n = esync_where_columns(w, &c);
    CHECK(n >= 0 && n <= NCOLS);
    for (int i = 0; i < n; i++) CHECK(c[i] >= 0 && c[i] < NCOLS && (i == 0 || c[i] > c[i - 1]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > ESYNC_WHERE_MAX_TEXT + 4096) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    /* split into lines (a NUL ends the text, like a C string would) */
    const char *lines[4] = {buf, NULL, NULL, NULL};
    int nlines = 1;
    for (char *p = buf; *p && nlines < 4; p++)
        if (*p == '\n') {
            *p = '\0';
            lines[nlines++] = p + 1;
        }
    char err[256];
    esync_where *w = NULL;
    int rc = esync_where_compile(lines[0], lines + 1, nlines - 1, cols, NCOLS, &w, err, sizeof err);
    if (rc != 0) {
        CHECK(w == NULL && rc < 0 && err[0] != '\0' && strlen(err) < sizeof err);
        free(buf);
        return 0;
    }
    check_columns(w);
    /* a row made of the first parameter's text in every column, to reach the value parsers */
    const char *mixed[NCOLS];
    for (int i = 0; i < NCOLS; i++) mixed[i] = nlines > 1 ? lines[1] : NULL;
    int results[NROWS + 1];
    for (int r = 0; r < NROWS; r++) results[r] = esync_where_eval(w, rows[r]);
    results[NROWS] = esync_where_eval(w, mixed);
    for (int r = 0; r <= NROWS; r++) CHECK(results[r] == 0 || results[r] == 1);

    char *sql = NULL, **vals = NULL;
    int nv = 0;
    CHECK(esync_where_sql(w, 1, &sql, &vals, &nv) == 0);
    esync_where *w2 = NULL;
    rc = esync_where_compile(sql, (const char *const *)vals, nv, cols, NCOLS, &w2, err, sizeof err);
    if (rc == ESYNC_WHERE_ELIMIT) {
        /* the rendering adds parentheses and placeholders: it may exceed the length limit */
        CHECK(strlen(sql) > ESYNC_WHERE_MAX_TEXT || strstr(err, "nested") ||
              strstr(err, "complex"));
    } else {
        CHECK(rc == 0);
        char *sql2 = NULL, **vals2 = NULL;
        int nv2 = 0;
        CHECK(esync_where_sql(w2, 1, &sql2, &vals2, &nv2) == 0);
        CHECK(strcmp(sql, sql2) == 0 && nv == nv2);
        for (int i = 0; i < nv; i++) CHECK(strcmp(vals[i], vals2[i]) == 0);
        for (int r = 0; r < NROWS; r++) CHECK(esync_where_eval(w2, rows[r]) == results[r]);
        CHECK(esync_where_eval(w2, mixed) == results[NROWS]);
        free(sql2);
        free(vals2);
        esync_where_free(w2);
    }
    free(sql);
    free(vals);
    esync_where_free(w);
    free(buf);
    return 0;
}
