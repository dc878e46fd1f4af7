/* Unit tests for src/where (compiled alone: libc and libm only).
 *
 *   test_where            runs the checks; exit status 0 when all pass
 *   test_where --equiv    prints, as JSON, a table (columns and rows in Postgres text output), a
 *                         set of clauses with their rendered SQL, bind values and the rows
 *                         esync_where_eval accepts; tests/server/where-pg.test.js runs the SQL on
 *                         the real cluster and checks that Postgres selects the same rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "where.h"

static int failures;
#define CHECK(x) ((x) ? (void)0 : fail_at(__LINE__, #x))
static void fail_at(int line, const char *what) {
    fprintf(stderr, "test_where.c:%d: CHECK failed: %s\n", line, what);
    failures++;
}

/* The test table. Values are as Postgres prints them (TimeZone Asia/Kolkata for timestamptz). */
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
     "2024-01-05 15:30:00+05:30", "10:00:00", "{\"a\": 1}", "X", "{1,2}"},
    {"2", "-5", "-9223372036854775808", "-0.5", "NaN", "-Infinity", "f", "banana", "b%nana", "xyz ",
     "00000000-0000-0000-0000-000000000000", "1999-12-31", "2000-01-01 00:00:00.5",
     "2000-01-01 05:30:00+05:30", "23:59:59.999999", NULL, "y", NULL},
    {"3", NULL, "0", "0", "0", "0", NULL, "Cherry pie", "cherry_pie", NULL, NULL, NULL, NULL, NULL,
     NULL, "[]", NULL, "{}"},
    {"4", "32767", "42", "42.000", "3.4028235e+38", "1e+100", "t", "", "", "",
     "ffffffff-ffff-ffff-ffff-ffffffffffff", "infinity", "-infinity", "infinity", "00:00:00",
     "null", "", "{3}"},
    {"5", "0", "5", "NaN", "-0", "Infinity", "f", "a\\b", "100%", "a",
     "12345678-1234-1234-1234-123456789abc", "0044-03-15 BC", "1970-01-01 00:00:00",
     "1970-01-01 05:30:00+05:30", "12:00:00", "1", "Z", "{}"},
    {"6", "7", "7", "7", "7", "7", "t", "O'Reilly", "o'reilly", "o'reilly",
     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12", "2024-02-29", "2024-02-29 23:59:59",
     "2024-02-29 23:59:59+05:30", "07:00:00", "7", "seven", "{7}"},
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

static esync_where *compile(const char *text, const char *const *params, int n, char *err,
                            size_t errlen, int *rc) {
    esync_where *w = NULL;
    *rc = esync_where_compile(text, params, n, cols, NCOLS, &w, err, errlen);
    return w;
}

/* The rows (as a bit mask) on which the clause holds; -1 when it does not compile. */
static int matches(const char *text, const char *const *params, int n) {
    char err[256];
    int rc;
    esync_where *w = compile(text, params, n, err, sizeof err, &rc);
    if (!w) {
        fprintf(stderr, "  compile failed: %s -> %s\n", text, err);
        return -1;
    }
    int mask = 0;
    for (int r = 0; r < NROWS; r++)
        if (esync_where_eval(w, rows[r])) mask |= 1 << r;
    esync_where_free(w);
    return mask;
}

#define R(i) (1 << ((i)-1)) /* row with id i */

static void expect_rows(int line, const char *text, const char *const *params, int n, int mask) {
    int got = matches(text, params, n);
    if (got != mask) {
        fprintf(stderr, "test_where.c:%d: %s: rows 0x%x, expected 0x%x\n", line, text,
                got < 0 ? 0 : got, mask);
        failures++;
    }
}
#define ROWS(text, mask) expect_rows(__LINE__, text, NULL, 0, mask)
#define ROWSP(text, params, mask)                                                                  \
    expect_rows(__LINE__, text, params, (int)(sizeof params / sizeof params[0]), mask)

static void expect_error(int line, const char *text, const char *const *params, int n, int code,
                         const char *msg) {
    char err[256];
    int rc;
    esync_where *w = compile(text, params, n, err, sizeof err, &rc);
    if (w || rc != code || strcmp(err, msg) != 0) {
        fprintf(stderr, "test_where.c:%d: %s: rc %d \"%s\", expected %d \"%s\"\n", line, text, rc,
                err, code, msg);
        failures++;
    }
    esync_where_free(w);
}
#define ERR(text, code, msg) expect_error(__LINE__, text, NULL, 0, ESYNC_WHERE_##code, msg)
#define ERRP(text, params, code, msg)                                                              \
    expect_error(__LINE__, text, params, (int)(sizeof params / sizeof params[0]),                  \
                 ESYNC_WHERE_##code, msg)

static void expect_sql(int line, const char *text, const char *const *params, int n, int first,
                       const char *sql, const char *const *values, int nvalues) {
    char err[256];
    int rc;
    esync_where *w = compile(text, params, n, err, sizeof err, &rc);
    if (!w) {
        fprintf(stderr, "test_where.c:%d: %s: %s\n", line, text, err);
        failures++;
        return;
    }
    char *out = NULL, **vals = NULL;
    int nv = -1;
    rc = esync_where_sql(w, first, &out, &vals, &nv);
    int ok = rc == 0 && strcmp(out, sql) == 0 && nv == nvalues;
    for (int i = 0; ok && i < nv; i++) ok = strcmp(vals[i], values[i]) == 0;
    if (!ok) {
        fprintf(stderr, "test_where.c:%d: %s\n  got      %s [", line, text, out ? out : "(null)");
        for (int i = 0; i < nv; i++) fprintf(stderr, "%s'%s'", i ? ", " : "", vals[i]);
        fprintf(stderr, "]\n  expected %s\n", sql);
        failures++;
    }
    free(out);
    free(vals);
    esync_where_free(w);
}
#define SQL(text, first, sql, ...)                                                                 \
    do {                                                                                           \
        static const char *const v_[] = {__VA_ARGS__};                                             \
        expect_sql(__LINE__, text, NULL, 0, first, sql, v_ + 1,                                    \
                   (int)(sizeof v_ / sizeof v_[0]) - 1);                                           \
    } while (0)

static void test_comparisons(void) {
    ROWS("id = 1", R(1));
    ROWS("id <> 1", 0x3e);
    ROWS("id != 1", 0x3e);
    ROWS("id < 3", R(1) | R(2));
    ROWS("id <= 3", R(1) | R(2) | R(3));
    ROWS("id > 4", R(5) | R(6));
    ROWS("id >= 4", R(4) | R(5) | R(6));
    ROWS("3 < id", R(4) | R(5) | R(6));
    ROWS("id = '2'", R(2));
    ROWS("i2 = 10", R(1));
    ROWS("i2 < 0", R(2));
    /* int8 extremes compare exactly, also against numeric literals */
    ROWS("i8 = 9223372036854775807", R(1));
    ROWS("i8 < -9223372036854775807", R(2));
    ROWS("i8 > 9223372036854775806.5", R(1));
    ROWS("i8 = 9223372036854775807.000", R(1));
    ROWS("i8 < 9223372036854775808", 0x3f & ~R(3) ? 0x3f : 0);
    /* numeric: arbitrary digits, scale-insensitive equality, NaN above everything */
    ROWS("n = 12345678901234567890.123", R(1));
    ROWS("n = 12345678901234567890.1230", R(1));
    ROWS("n > 12345678901234567890.122999999999", R(1) | R(5));
    ROWS("n = 42", R(4));
    ROWS("n = '42.0'", R(4));
    ROWS("n < 0", R(2));
    ROWS("n = 'NaN'", R(5));
    ROWS("n > 1e20", R(5));
    ROWS("n >= 1.2e19", R(1) | R(5));
    ROWS("n = -.5", R(2));
    /* floats: doubles, float4 widened (so f4 = 1.1 is false, as in Postgres) */
    ROWS("f4 = 1.1", 0);
    ROWS("f4 = '1.1'", R(1));
    ROWS("f4 = 'NaN'", R(2));
    ROWS("f4 > 1e38", R(2) | R(4));
    ROWS("f4 = 0", R(3) | R(5));
    ROWS("f8 = 1.5", R(1));
    ROWS("f8 < -1e308", R(2));
    ROWS("f8 = 'Infinity'", R(5));
    ROWS("f8 > f4", R(1) | R(4) | R(5)); /* 1.5 > 1.1::float4 */
    ROWS("f8 = id", 0);
    ROWS("f8 = id + 1", R(6));
    ROWS("n = f8", R(3) | R(6));
    /* bool */
    ROWS("b", R(1) | R(4) | R(6));
    ROWS("b = true", R(1) | R(4) | R(6));
    ROWS("b = 'f'", R(2) | R(5));
    ROWS("b = 'no'", R(2) | R(5));
    ROWS("b < true", R(2) | R(5));
    /* text-likes: byte order; bpchar ignores trailing blanks */
    ROWS("t = 'apple'", R(1));
    ROWS("t > 'b'", R(2)); /* byte order: upper case sorts first */
    ROWS("t < 'B'", R(4));
    ROWS("t = ''", R(4));
    ROWS("t = 'O''Reilly'", R(6));
    ROWS("vc = 'Apple'", R(1));
    ROWS("bp = 'ab'", R(1));
    ROWS("bp = 'ab    '", R(1));
    ROWS("bp = t", R(4));
    ROWS("bp = vc", R(4) | R(6));
    ROWS("\"Mixed Case\" = 'X'", R(1));
    ROWS("t = vc", R(4));
    /* uuid: any accepted input form */
    ROWS("u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", R(1));
    ROWS("u = '{a0eebc999c0b4ef8bb6d6bb9bd380a11}'", R(1));
    ROWS("u > 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", R(4) | R(6));
    /* dates and times */
    ROWS("d = '2024-01-05'", R(1));
    ROWS("d < '2000-01-01'", R(2) | R(5));
    ROWS("d > '9999-12-31'", R(4));
    ROWS("d = '2024-02-29'", R(6));
    ROWS("d < '0001-01-01'", R(5));
    ROWS("ts >= '2024-01-05 10:00'", R(1) | R(6));
    ROWS("ts = '2000-01-01T00:00:00.500'", R(2));
    ROWS("ts < '1000-01-01'", R(4));
    ROWS("ts > d", R(1) | R(2) | R(5) | R(6));
    ROWS("tz = '2024-01-05 10:00:00Z'", R(1));
    ROWS("tz = '2024-01-05 10:00:00'", R(1));
    ROWS("tz = '2024-01-05 12:00:00+02'", R(1));
    ROWS("tz < '2000-01-01 00:00:01+00'", R(2) | R(5));
    ROWS("tz = 'infinity'", R(4));
    ROWS("tm > '12:00'", R(2));
    ROWS("tm = '23:59:59.999999'", R(2));
    ROWS("tm BETWEEN '07:00' AND '12:00:00'", R(1) | R(5) | R(6));
}

static void test_logic(void) {
    /* three-valued logic: b is NULL on row 3 */
    ROWS("b OR id = 3", R(1) | R(3) | R(4) | R(6));
    ROWS("NOT b", R(2) | R(5));
    ROWS("NOT (b AND id > 1)", R(1) | R(2) | R(5));
    ROWS("b AND NULL", 0);
    ROWS("NOT (b AND NULL)", R(2) | R(5));
    ROWS("b OR NULL", R(1) | R(4) | R(6));
    ROWS("NOT (b OR NULL)", 0);
    ROWS("i2 > 0 OR i2 <= 0", 0x3f & ~R(3));
    ROWS("NOT (i2 > 0 OR i2 <= 0)", 0);
    ROWS("b IS NULL", R(3));
    ROWS("b IS NOT NULL", 0x3f & ~R(3));
    ROWS("b ISNULL", R(3));
    ROWS("b NOTNULL", 0x3f & ~R(3));
    ROWS("b IS TRUE", R(1) | R(4) | R(6));
    ROWS("b IS NOT TRUE", R(2) | R(3) | R(5));
    ROWS("b IS FALSE", R(2) | R(5));
    ROWS("b IS NOT FALSE", R(1) | R(3) | R(4) | R(6));
    ROWS("b IS UNKNOWN", R(3));
    ROWS("b IS NOT UNKNOWN", 0x3f & ~R(3));
    ROWS("(i2 > 0) IS NOT TRUE", R(2) | R(3) | R(5));
    ROWS("j IS NULL", R(2));
    ROWS("arr IS NOT NULL", 0x3f & ~R(2));
    ROWS("NULL IS NULL", 0x3f);
    ROWS("i2 = NULL", 0);
    ROWS("i2 IS DISTINCT FROM NULL", 0x3f & ~R(3));
    ROWS("i2 IS NOT DISTINCT FROM NULL", R(3));
    ROWS("i2 IS DISTINCT FROM 7", 0x3f & ~R(6));
    ROWS("b IS NOT DISTINCT FROM false", R(2) | R(5));
    ROWS("NOT NOT b", R(1) | R(4) | R(6));
    ROWS("true", 0x3f);
    ROWS("false", 0);
    ROWS("'t'::bool AND true", 0x3f);
    /* precedence: NOT below comparison, AND above OR, IS below comparison */
    ROWS("NOT id = 1", 0x3e);
    ROWS("id = 1 OR id = 2 AND b", R(1));
    ROWS("(id = 1 OR id = 2) AND b", R(1));
    ROWS("id = 1 IS TRUE", R(1));
}

static void test_predicates(void) {
    ROWS("id IN (1, 3, 5)", R(1) | R(3) | R(5));
    ROWS("id NOT IN (1, 3, 5)", R(2) | R(4) | R(6));
    ROWS("id IN (1, NULL)", R(1));
    ROWS("id NOT IN (1, NULL)", 0);
    ROWS("i2 IN (10, -5)", R(1) | R(2));
    ROWS("i2 NOT IN (10)", 0x3f & ~R(1) & ~R(3));
    ROWS("t IN ('apple', 'banana')", R(1) | R(2));
    ROWS("n IN (7, 42)", R(4) | R(6));
    ROWS("u IN ('00000000-0000-0000-0000-000000000000')", R(2));
    ROWS("id BETWEEN 2 AND 4", R(2) | R(3) | R(4));
    ROWS("id NOT BETWEEN 2 AND 4", R(1) | R(5) | R(6));
    ROWS("id BETWEEN 4 AND 2", 0);
    ROWS("i2 BETWEEN 0 AND 10 AND b", R(1) | R(6));
    ROWS("id BETWEEN 1 + 1 AND 3", R(2) | R(3));
    ROWS("t LIKE 'a%'", R(1) | R(5));
    ROWS("t LIKE '%an%'", R(2));
    ROWS("t LIKE '_pple'", R(1));
    ROWS("t LIKE '%'", 0x3f);
    ROWS("t NOT LIKE '%e'", R(2) | R(4) | R(5) | R(6));
    ROWS("t ILIKE 'APPLE'", R(1));
    ROWS("t ILIKE 'c%'", R(3));
    ROWS("t NOT ILIKE '%A%'", R(3) | R(4) | R(6));
    ROWS("vc LIKE 'b\\%nana'", R(2));
    ROWS("vc LIKE '100\\%'", R(5));
    ROWS("vc LIKE 'cherry\\_pie'", R(3));
    ROWS("t LIKE 'a\\\\b'", R(5));
    ROWS("t LIKE 'O''%'", R(6));
    ROWS("t LIKE t", 0x3f & ~R(5));
    ROWS("'é' LIKE '_'", 0x3f);
    ROWS("'ab' LIKE 'a'", 0);
    ROWS("t LIKE NULL", 0);
}

static void test_arithmetic_and_functions(void) {
    ROWS("id + 1 = 2", R(1));
    ROWS("id - 1 = 0", R(1));
    ROWS("id * 2 = 12", R(6));
    ROWS("id / 2 = 1", R(2) | R(3));
    ROWS("id % 2 = 0", R(2) | R(4) | R(6));
    ROWS("-id = -1", R(1));
    ROWS("- id < -5", R(6));
    ROWS("+id = 1", R(1));
    ROWS("2 + 3 * id = 5", R(1));
    ROWS("(2 + 3) * id = 5", R(1));
    ROWS("i2 + 1 > 10", R(1) | R(4)); /* int2 + int4 is int4: no overflow */
    ROWS("i2 + i2 > 0", R(1) | R(6)); /* int2 + int2 overflows on row 4 */
    ROWS("i2 + 1 = -32768", 0);       /* int2 overflow: an error in Postgres, NULL here */
    ROWS("i8 + 1 > 0", R(3) | R(4) | R(5) | R(6));
    ROWS("i8 / 0 = 1", 0);
    ROWS("n + 1 = 43", R(4));
    ROWS("n * 2 = 84", R(4));
    ROWS("n - 0.5 = -1", R(2));
    ROWS("n * n = 0.25", R(2));
    ROWS("n + id = 12345678901234567891.123", R(1));
    ROWS("f8 * 2 = 3", R(1));
    ROWS("f8 / 2 = 0.75", R(1));
    ROWS("f4 + 1 = 1", R(3) | R(5));
    ROWS("id + 0.5 = 1.5", R(1));
    ROWS("id + '1' = 2", R(1));
    ROWS("lower(t) = 'cherry pie'", R(3));
    ROWS("upper(vc) = 'APPLE'", R(1));
    ROWS("lower(bp) = 'ab'", R(1));
    ROWS("coalesce(b, true)", R(1) | R(3) | R(4) | R(6));
    ROWS("coalesce(i2, 99) = 99", R(3));
    ROWS("coalesce(i2, n, 0) = 7", R(6));
    ROWS("COALESCE(t, 'x') = 'apple'", R(1));
    /* casts */
    ROWS("id::text = '1'", R(1));
    ROWS("t::int4 = 1", 0);
    ROWS("vc::text = 'Apple'", R(1));
    ROWS("bp::text = 'ab'", R(1));
    ROWS("n::int8 = 42", R(4));
    ROWS("n::int4 = -1", R(2)); /* -0.5 rounds away from zero */
    ROWS("f8::int4 = 2", R(1)); /* 1.5 rounds to even */
    ROWS("id::numeric = 1.0", R(1));
    ROWS("id::float8 = 1", R(1));
    ROWS("b::int4 = 1", R(1) | R(4) | R(6));
    ROWS("ts::date = '2024-01-05'", R(1));
    ROWS("d::timestamp = '2024-01-05 00:00:00'", R(1));
    ROWS("'2024-01-05'::date = d", R(1));
    ROWS("u::text = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", R(1));
    ROWS("'5'::int8 = id", R(5));
    ROWS("id = 1::int2", R(1));
    ROWS("\"id\" = 1", R(1));
    ROWS("ID = 1", R(1));
}

static void test_params(void) {
    static const char *const p1[] = {"2"};
    ROWSP("id = $1", p1, R(2));
    ROWSP("t = $1", p1, 0);
    static const char *const p2[] = {"apple", "3"};
    ROWSP("t = $1 OR id = $2", p2, R(1) | R(3));
    static const char *const p2b[] = {"3"};
    ROWSP("id > $1 AND id < $1 + 2", p2b, R(4));
    static const char *const p3[] = {"a%"};
    ROWSP("t LIKE $1", p3, R(1) | R(5));
    static const char *const p4[] = {"true"};
    ERRP("$1", p4, ETYPE, "WHERE clause must return a boolean"); /* as Electric: untyped is text */
    ROWSP("$1::bool", p4, 0x3f);
    ROWSP("b = $1", p4, R(1) | R(4) | R(6));
    static const char *const p5[] = {"1; DROP TABLE t"};
    ROWSP("t = $1", p5, 0);
    static const char *const p6[] = {"2024-01-05 10:00:00+00"};
    ROWSP("tz = $1", p6, R(1));
}

static void test_errors(void) {
    ERR("1 x 1", ESYNTAX, "At location 17: syntax error at or near \"x\"");
    ERR("id =", ESYNTAX, "At location 19: syntax error at end of input");
    ERR("", ESYNTAX, "At location 15: syntax error at end of input");
    ERR("id = = 1", ESYNTAX, "At location 20: syntax error at or near \"=\"");
    ERR("(id = 1", ESYNTAX, "At location 22: syntax error at end of input");
    ERR("id = 1)", ESYNTAX, "At location 21: syntax error at or near \")\"");
    ERR("id < 2 < 3", ESYNTAX, "At location 22: syntax error at or near \"<\"");
    ERR("id = 1 AND", ESYNTAX, "At location 25: syntax error at end of input");
    ERR("t = 'abc", ESYNTAX, "At location 19: unterminated quoted string at or near \"'abc\"");
    ERR("\"abc = 1", ESYNTAX,
        "At location 15: unterminated quoted identifier at or near \"\"abc = 1\"");
    ERR("\"\" = 1", ESYNTAX,
        "At location 15: zero-length delimited identifier at or near \"\"\"\"");
    ERR("id = 12abc", ESYNTAX,
        "At location 20: trailing junk after numeric literal at or near \"12abc\"");
    ERR("id = $", ESYNTAX, "At location 20: syntax error at or near \"$\"");
    ERR("id = 1 FROM t", ESYNTAX, "malformed query ending with SQL clauses");
    ERR("id = 1; DROP TABLE t", ESYNTAX, "unescaped \";\" causing statement split");
    ERR("id = 1;", ESYNTAX, "unescaped \";\" causing statement split");
    ERR("id = 1 -- x", EUNSUPPORTED, "At location 7: comments are not supported");
    ERR("id = 1 /* x */", EUNSUPPORTED, "At location 7: comments are not supported");
    ERR("id =-- x\n1", EUNSUPPORTED, "At location 4: comments are not supported");
    ERR("foo = 1", ETYPE, "At location 0: unknown reference foo");
    ERR("\"Foo\" = 1", ETYPE, "At location 0: unknown reference \"Foo\"");
    ERR("mixed = 1", ETYPE, "At location 0: unknown reference mixed");
    ERR("t.id = 1", ETYPE, "At location 0: unknown reference t.id");
    ERR("\"a\"\" OR 1=1 --\" = 1", ETYPE, "At location 0: unknown reference \"a\" OR 1=1 --\"");
    ERR("id", ETYPE, "WHERE clause must return a boolean");
    ERR("id + 1", ETYPE, "WHERE clause must return a boolean");
    ERR("'abc'", ETYPE, "WHERE clause must return a boolean");
    ERR("NULL", ETYPE, "WHERE clause must return a boolean");
    ERR("id = $2", EPARAM, "At location 5: parameter $2 was not provided");
    static const char *const p1[] = {"1"};
    ERRP("id = $2", p1, EPARAM, "At location 5: parameter $2 was not provided");
    static const char *const p2[] = {"1", "2"};
    ERRP("id = $1", p2, EPARAM, "At location 0: parameter value for $2 was not used");
    static const char *const p3[] = {"abc"};
    ERRP("id = $1", p3, ETYPE, "At location 5: invalid syntax for type int4: abc");
    ERR("id = 'abc'", ETYPE, "At location 5: invalid syntax for type int4: abc");
    ERR("id = '1.5'", ETYPE, "At location 5: invalid syntax for type int4: 1.5");
    ERR("i2 = '40000'", ETYPE, "At location 5: invalid syntax for type int2: 40000");
    ERR("u = 'nope'", ETYPE, "At location 4: invalid syntax for type uuid: nope");
    ERR("d = '2023-02-29'", ETYPE, "At location 4: invalid syntax for type date: 2023-02-29");
    ERR("d = 'yesterday'", ETYPE, "At location 4: invalid syntax for type date: yesterday");
    ERR("b = 'maybe'", ETYPE, "At location 4: invalid syntax for type bool: maybe");
    ERR("t = 1", ETYPE, "At location 2: Could not select an operator overload");
    ERR("id = t", ETYPE, "At location 3: Could not select an operator overload");
    ERR("u = t", ETYPE, "At location 2: Could not select an operator overload");
    ERR("tz = ts", ETYPE, "At location 3: Could not select an operator overload");
    ERR("j = '{}'", ETYPE, "At location 2: Could not select an operator overload");
    ERR("arr = '{1}'", ETYPE, "At location 4: Could not select an operator overload");
    ERR("id LIKE '1%'", ETYPE, "At location 3: Could not select an operator overload");
    ERR("t + 1 = 2", ETYPE, "At location 2: Could not select an operator overload");
    ERR("n / 2 = 1", EUNSUPPORTED, "At location 2: division of numeric values is not supported");
    ERR("t LIKE 'a\\'", ETYPE, "At location 7: LIKE pattern must not end with escape character");
    ERR("id AND b", ETYPE, "At location 0: reference id of type int4 is not castable to bool");
    ERR("b AND id + 1", ETYPE, "At location 9: argument of AND must be bool, not int4");
    ERR("id IS TRUE", ETYPE, "At location 3: argument of IS TRUE must be bool, not int4");
    ERR("pg_sleep(5) IS NULL", EUNSUPPORTED,
        "At location 0: unknown or unsupported function pg_sleep/1");
    ERR("now() > ts", EUNSUPPORTED, "At location 0: unknown or unsupported function now/0");
    ERR("lower(t, t) = 'a'", ETYPE, "At location 0: unknown or unsupported function lower/2");
    ERR("lower(id) = 'a'", ETYPE,
        "At location 0: Could not select a function overload for lower(int4)");
    ERR("id IN (SELECT id FROM t)", EUNSUPPORTED, "At location 3: subqueries are not supported");
    ERR("(SELECT 1) = 1", EUNSUPPORTED, "At location 0: subqueries are not supported");
    ERR("EXISTS (SELECT 1)", EUNSUPPORTED, "At location 0: exists is not supported");
    ERR("CASE WHEN b THEN true END", EUNSUPPORTED, "At location 0: case is not supported");
    ERR("id = ANY('{1}')", EUNSUPPORTED, "At location 5: any is not supported");
    ERR("t || 'x' = 'y'", EUNSUPPORTED, "At location 2: operator || is not supported");
    ERR("j @> '{}'", EUNSUPPORTED, "At location 2: operator @> is not supported");
    ERR("j->>'a' = 'b'", EUNSUPPORTED, "At location 1: operator ->> is not supported");
    ERR("t ~ 'a'", EUNSUPPORTED, "At location 2: operator ~ is not supported");
    ERR("id::jsonb IS NULL", EUNSUPPORTED, "At location 4: unsupported type jsonb");
    ERR("id::varchar(3) = 'a'", EUNSUPPORTED,
        "At location 11: type modifiers and array types are not supported");
    ERR("id::int4[] IS NULL", EUNSUPPORTED,
        "At location 8: type modifiers and array types are not supported");
    ERR("ts::text = 'x'", ETYPE, "At location 0: unknown cast from type timestamp to type text");
    ERR("f8::text = 'x'", ETYPE, "At location 0: unknown cast from type float8 to type text");
    ERR("t::timestamptz IS NULL", ETYPE,
        "At location 0: unknown cast from type text to type timestamptz");
    ERR("E'x' = t", EUNSUPPORTED, "At location 0: E'...' literals are not supported");
    ERR("date '2024-01-01' = d", EUNSUPPORTED,
        "At location 0: date '...' literals are not supported");
    ERR("t LIKE 'a' ESCAPE '!'", EUNSUPPORTED, "At location 11: LIKE ... ESCAPE is not supported");
    ERR("t SIMILAR TO 'a'", EUNSUPPORTED, "At location 2: SIMILAR TO is not supported");
    ERR("id BETWEEN SYMMETRIC 1 AND 2", EUNSUPPORTED,
        "At location 11: BETWEEN symmetric is not supported");
    ERR("\xff = 1", ESYNTAX, "invalid byte sequence for encoding \"UTF8\"");
    static const char *const bad[] = {"\xc3"};
    ERRP("t = $1", bad, EPARAM, "parameter $1: invalid byte sequence for encoding \"UTF8\"");

    /* limits */
    char *big = malloc(ESYNC_WHERE_MAX_TEXT + 2);
    memset(big, ' ', ESYNC_WHERE_MAX_TEXT + 1);
    memcpy(big, "true", 4);
    big[ESYNC_WHERE_MAX_TEXT + 1] = '\0';
    ERR(big, ELIMIT, "WHERE clause is too long (16385 bytes, limit 16384)");
    big[ESYNC_WHERE_MAX_TEXT] = '\0';
    ROWS(big, 0x3f);
    char deep[400] = "";
    for (int i = 0; i < 70; i++) strcat(deep, "(");
    strcat(deep, "b");
    for (int i = 0; i < 70; i++) strcat(deep, ")");
    ERR(deep, ELIMIT, "At location 64: expression is nested too deeply (limit 64)");
    deep[0] = '\0';
    for (int i = 0; i < 60; i++) strcat(deep, "(");
    strcat(deep, "b");
    for (int i = 0; i < 60; i++) strcat(deep, ")");
    ROWS(deep, R(1) | R(4) | R(6));
    /* a long OR chain is fine up to the height limit */
    size_t at = 0;
    for (int i = 0; i < 1000; i++) at += (size_t)sprintf(big + at, "%sid = %d", i ? " OR " : "", i);
    ROWS(big, 0x3f);
    at = 0;
    for (int i = 0; i < 1100; i++) at += (size_t)sprintf(big + at, "%sid=%d", i ? " OR " : "", i);
    ERR(big, ELIMIT, "expression is too complex (more than 1024 nested operations)");
    free(big);

    /* API misuse */
    esync_where *w = (esync_where *)&w;
    char err[64];
    CHECK(esync_where_compile(NULL, NULL, 0, cols, NCOLS, &w, err, sizeof err) ==
          ESYNC_WHERE_EINVAL);
    CHECK(w == NULL);
    CHECK(esync_where_compile("true", NULL, 1, cols, NCOLS, &w, err, sizeof err) ==
          ESYNC_WHERE_EINVAL);
    CHECK(esync_where_compile("x", NULL, 0, cols, NCOLS, &w, NULL, 0) == ESYNC_WHERE_ETYPE);
    CHECK(esync_where_compile("1 x 1", NULL, 0, cols, NCOLS, &w, err, 8) == ESYNC_WHERE_ESYNTAX);
    CHECK(strcmp(err, "At loca") == 0);
    esync_where_free(NULL);
    CHECK(esync_where_eval(NULL, NULL) == 0);
}

static void test_sql(void) {
    SQL("id = 1", 1, "(\"id\" = $1::int4)", "", "1");
    SQL("ID = 1 AND t <> 'x'", 3, "((\"id\" = $3::int4) AND (\"t\" <> $4::text))", "", "1", "x");
    SQL("\"Mixed Case\" LIKE 'a%' OR NOT b", 1, "((\"Mixed Case\" LIKE $1::text) OR (NOT \"b\"))",
        "", "a%");
    SQL("t NOT ILIKE 'A_'", 1, "(\"t\" NOT ILIKE $1::text)", "", "A_");
    SQL("id IN (1, 2) AND id NOT IN (3)", 1,
        "((\"id\" IN ($1::int4, $2::int4)) AND (\"id\" NOT IN ($3::int4)))", "", "1", "2", "3");
    SQL("id BETWEEN 1 AND 10", 1, "(\"id\" BETWEEN $1::int4 AND $2::int4)", "", "1", "10");
    SQL("id NOT BETWEEN 1 AND 10", 1, "(\"id\" NOT BETWEEN $1::int4 AND $2::int4)", "", "1", "10");
    SQL("b IS NOT NULL AND b IS TRUE AND b IS NOT FALSE AND b IS UNKNOWN", 1,
        "((((\"b\" IS NOT NULL) AND (\"b\" IS TRUE)) AND (\"b\" IS NOT FALSE)) AND (\"b\" IS UNKNOWN))",
        "");
    SQL("i2 IS DISTINCT FROM NULL", 1, "(\"i2\" IS DISTINCT FROM NULL::int2)", "");
    SQL("-id + 2 * 3 > 0", 1, "(((- \"id\") + ($1::int4 * $2::int4)) > $3::int4)", "", "2", "3",
        "0");
    SQL("id > -5", 1, "(\"id\" > $1::int4)", "", "-5");
    SQL("i8 > 3000000000", 1, "(\"i8\" > $1::int8)", "", "3000000000");
    SQL("n > 1.5e3", 1, "(\"n\" > $1::numeric)", "", "1.5e3");
    SQL("f4 = '1.1'", 1, "(\"f4\" = $1::float4)", "", "1.1");
    SQL("u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", 1, "(\"u\" = $1::uuid)", "",
        "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11");
    SQL("tz > '2024-01-01 00:00'", 1, "(\"tz\" > $1::timestamptz)", "", "2024-01-01 00:00+00");
    SQL("tz > '2024-01-01 00:00+05'", 1, "(\"tz\" > $1::timestamptz)", "", "2024-01-01 00:00+05");
    SQL("b = true", 1, "(\"b\" = $1::bool)", "", "true");
    SQL("true", 1, "$1::bool", "", "true");
    SQL("id::text = '1'", 1, "((\"id\")::text = $1::text)", "", "1");
    SQL("'5'::int8 = id", 1, "($1::int8 = \"id\")", "", "5");
    SQL("lower(t) = upper(vc) OR coalesce(i2, 0) = 1", 1,
        "((lower(\"t\") = upper(\"vc\")) OR (COALESCE(\"i2\", $1::int4) = $2::int4))", "", "0",
        "1");
    SQL("bp = 'ab'", 1, "(\"bp\" = $1::bpchar)", "", "ab");
    /* injection attempts end up as quoted identifiers or bind values */
    static const char *const inj[] = {"x'); DROP TABLE t; --"};
    esync_where *w = NULL;
    char err[256];
    CHECK(esync_where_compile("t = $1", inj, 1, cols, NCOLS, &w, err, sizeof err) == 0);
    char *sql = NULL, **vals = NULL;
    int nv = 0;
    CHECK(esync_where_sql(w, 1, &sql, &vals, &nv) == 0);
    CHECK(strcmp(sql, "(\"t\" = $1::text)") == 0 && nv == 1 && strcmp(vals[0], inj[0]) == 0);
    free(sql);
    free(vals);
    esync_where_free(w);
    static const esync_where_col evil[] = {{"a\" OR 1=1 --", "text", 0}};
    CHECK(esync_where_compile("\"a\"\" OR 1=1 --\" = 'x'", NULL, 0, evil, 1, &w, err, sizeof err) ==
          0);
    CHECK(esync_where_sql(w, 1, &sql, &vals, &nv) == 0);
    CHECK(strcmp(sql, "(\"a\"\" OR 1=1 --\" = $1::text)") == 0 && nv == 1);
    free(sql);
    free(vals);
    CHECK(esync_where_sql(w, 0, &sql, &vals, &nv) == ESYNC_WHERE_EINVAL && !sql && !vals && !nv);
    esync_where_free(w);
    /* no values: NULL array */
    CHECK(esync_where_compile("b IS NULL", NULL, 0, cols, NCOLS, &w, err, sizeof err) == 0);
    CHECK(esync_where_sql(w, 1, &sql, &vals, &nv) == 0 && vals == NULL && nv == 0);
    free(sql);
    esync_where_free(w);
}

static void test_columns(void) {
    esync_where *w = NULL;
    const int *c = NULL;
    CHECK(esync_where_compile("t = 'a' OR id = 1 OR (id > 2 AND \"Mixed Case\" IS NULL)", NULL, 0,
                              cols, NCOLS, &w, NULL, 0) == 0);
    CHECK(esync_where_columns(w, &c) == 3);
    CHECK(c[0] == 0 && c[1] == 7 && c[2] == 16);
    esync_where_free(w);
    CHECK(esync_where_compile("true", NULL, 0, cols, NCOLS, &w, NULL, 0) == 0);
    CHECK(esync_where_columns(w, &c) == 0);
    CHECK(esync_where_eval(w, NULL) == 1);
    esync_where_free(w);
    /* values that are not valid for their type read as NULL */
    CHECK(esync_where_compile("id = 1 OR id IS NULL", NULL, 0, cols, NCOLS, &w, NULL, 0) == 0);
    const char *row[NCOLS] = {"one"};
    CHECK(esync_where_eval(w, row) == 1);
    esync_where_free(w);
}

/* ---- --equiv: the cases the Postgres equivalence test runs --------------------------------- */

/* These make Postgres raise an error on some row (out of range), where eval reads NULL. */
static const char *const pg_error_cases[] = {"n::int8 = 42", "n::int4 = -1", "f8::int4 = 2",
                                             "i2 + i2 > 0"};

static int pg_error(const char *where) {
    for (size_t i = 0; i < sizeof pg_error_cases / sizeof pg_error_cases[0]; i++)
        if (strcmp(where, pg_error_cases[i]) == 0) return 1;
    return 0;
}

static const struct {
    const char *where;
    const char *params[3];
} equiv_cases[] = {
    {"id = 1", {0}},
    {"id <> 1", {0}},
    {"id < 3", {0}},
    {"id >= 4", {0}},
    {"id = '2'", {0}},
    {"i2 < 0", {0}},
    {"i8 = 9223372036854775807", {0}},
    {"i8 < -9223372036854775807", {0}},
    {"i8 > 9223372036854775806.5", {0}},
    {"n = 12345678901234567890.1230", {0}},
    {"n > 12345678901234567890.122999999999", {0}},
    {"n = '42.0'", {0}},
    {"n = 'NaN'", {0}},
    {"n > 1e20", {0}},
    {"n >= 1.2e19", {0}},
    {"n = -.5", {0}},
    {"f4 = 1.1", {0}},
    {"f4 = '1.1'", {0}},
    {"f4 = 'NaN'", {0}},
    {"f4 > 1e38", {0}},
    {"f4 = 0", {0}},
    {"f8 < -1e308", {0}},
    {"f8 = 'Infinity'", {0}},
    {"f8 > f4", {0}},
    {"f8 = id", {0}},
    {"n = f8", {0}},
    {"b", {0}},
    {"b = 'no'", {0}},
    {"b < true", {0}},
    {"t > 'b'", {0}},
    {"t < 'B'", {0}},
    {"t = 'O''Reilly'", {0}},
    {"bp = 'ab'", {0}},
    {"bp = 'ab    '", {0}},
    {"bp = t", {0}},
    {"bp = vc", {0}},
    {"\"Mixed Case\" = 'X'", {0}},
    {"u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", {0}},
    {"u = '{a0eebc999c0b4ef8bb6d6bb9bd380a11}'", {0}},
    {"u > 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", {0}},
    {"d < '2000-01-01'", {0}},
    {"d > '9999-12-31'", {0}},
    {"d < '0001-01-01'", {0}},
    {"ts >= '2024-01-05 10:00'", {0}},
    {"ts = '2000-01-01T00:00:00.500'", {0}},
    {"ts > d", {0}},
    {"tz = '2024-01-05 10:00:00Z'", {0}},
    {"tz = '2024-01-05 10:00:00'", {0}},
    {"tz = '2024-01-05 12:00:00+02'", {0}},
    {"tz < '2000-01-01 00:00:01+00'", {0}},
    {"tz = 'infinity'", {0}},
    {"tm > '12:00'", {0}},
    {"tm BETWEEN '07:00' AND '12:00:00'", {0}},
    {"b OR id = 3", {0}},
    {"NOT (b AND id > 1)", {0}},
    {"NOT (b AND NULL)", {0}},
    {"NOT (b OR NULL)", {0}},
    {"b IS NOT TRUE", {0}},
    {"b IS NOT FALSE", {0}},
    {"b IS UNKNOWN", {0}},
    {"j IS NULL", {0}},
    {"arr IS NOT NULL", {0}},
    {"i2 IS DISTINCT FROM 7", {0}},
    {"i2 IS NOT DISTINCT FROM NULL", {0}},
    {"NOT id = 1", {0}},
    {"id = 1 OR id = 2 AND b", {0}},
    {"id = 1 IS TRUE", {0}},
    {"id IN (1, NULL)", {0}},
    {"id NOT IN (1, NULL)", {0}},
    {"id NOT IN (1, 3, 5)", {0}},
    {"n IN (7, 42)", {0}},
    {"id BETWEEN 4 AND 2", {0}},
    {"id NOT BETWEEN 2 AND 4", {0}},
    {"t LIKE '%an%'", {0}},
    {"t LIKE '_pple'", {0}},
    {"t NOT LIKE '%e'", {0}},
    {"t NOT ILIKE '%A%'", {0}},
    {"vc LIKE 'b\\%nana'", {0}},
    {"vc LIKE 'cherry\\_pie'", {0}},
    {"t LIKE 'a\\\\b'", {0}},
    {"t LIKE t", {0}},
    {"bp LIKE 'ab'", {0}},
    {"bp LIKE 'ab%'", {0}},
    {"bp ILIKE 'XYZ'", {0}},
    {"id + 1 = 2", {0}},
    {"id / 2 = 1", {0}},
    {"id % 2 = 0", {0}},
    {"-id = -1", {0}},
    {"2 + 3 * id = 5", {0}},
    {"n + 1 = 43", {0}},
    {"n - 0.5 = -1", {0}},
    {"n * n = 0.25", {0}},
    {"n + id = 12345678901234567891.123", {0}},
    {"f8 / 2 = 0.75", {0}},
    {"f4 + 1 = 1", {0}},
    {"id + 0.5 = 1.5", {0}},
    {"lower(t) = 'cherry pie'", {0}},
    {"upper(vc) = 'APPLE'", {0}},
    {"lower(bp) = 'ab'", {0}},
    {"coalesce(b, true)", {0}},
    {"coalesce(i2, n, 0) = 7", {0}},
    {"id::text = '1'", {0}},
    {"bp::text = 'ab'", {0}},
    {"n::int8 = 42", {0}},
    {"n::int4 = -1", {0}},
    {"f8::int4 = 2", {0}},
    {"b::int4 = 1", {0}},
    {"ts::date = '2024-01-05'", {0}},
    {"d::timestamp = '2024-01-05 00:00:00'", {0}},
    {"u::text = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", {0}},
    {"(n * 2)::text = '84.000'", {0}},
    {"id = $1", {"2"}},
    {"t = $1 OR id = $2", {"apple", "3"}},
    {"f8 = id + 1", {0}},
    {"i2 + i2 > 0", {0}},
    {"i2 + 1 > 10", {0}},
    {"$1::bool", {"true"}},
    {"t LIKE $1", {"a%"}},
    {"t = $1", {"1; DROP TABLE t"}},
    {"tz = $1", {"2024-01-05 10:00:00+00"}},
    {"b = $1 AND $2", {"yes", "on"}},
    {"i2 IN ($1, $2, $3)", {"10", " 7 ", "-5"}},
    {"n < $1", {"-0.4999"}},
};

static void json_str(const char *s) {
    if (!s) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int equiv(void) {
    printf("{\"columns\":[");
    for (int i = 0; i < NCOLS; i++) {
        printf("%s{\"name\":", i ? "," : "");
        json_str(cols[i].name);
        printf(",\"type\":\"%s%s\"}", cols[i].type, cols[i].dims ? "[]" : "");
    }
    printf("],\n\"rows\":[");
    for (int r = 0; r < NROWS; r++) {
        printf("%s[", r ? ",\n" : "");
        for (int i = 0; i < NCOLS; i++) {
            if (i) putchar(',');
            json_str(rows[r][i]);
        }
        putchar(']');
    }
    printf("],\n\"cases\":[");
    int n = (int)(sizeof equiv_cases / sizeof equiv_cases[0]);
    for (int k = 0; k < n; k++) {
        int np = 0;
        while (np < 3 && equiv_cases[k].params[np]) np++;
        char err[256];
        esync_where *w = NULL;
        if (esync_where_compile(equiv_cases[k].where, equiv_cases[k].params, np, cols, NCOLS, &w,
                                err, sizeof err)) {
            fprintf(stderr, "equiv case does not compile: %s: %s\n", equiv_cases[k].where, err);
            return 1;
        }
        char *sql, **vals;
        int nv;
        if (esync_where_sql(w, 1, &sql, &vals, &nv)) return 1;
        printf("%s{\"where\":", k ? ",\n" : "");
        json_str(equiv_cases[k].where);
        printf(",\"sql\":");
        json_str(sql);
        printf(",\"values\":[");
        for (int i = 0; i < nv; i++) {
            if (i) putchar(',');
            json_str(vals[i]);
        }
        printf("],\"pg_error\":%s,\"ids\":[", pg_error(equiv_cases[k].where) ? "true" : "false");
        int first = 1;
        for (int r = 0; r < NROWS; r++)
            if (esync_where_eval(w, rows[r])) {
                printf("%s%s", first ? "" : ",", rows[r][0]);
                first = 0;
            }
        printf("]}");
        free(sql);
        free(vals);
        esync_where_free(w);
    }
    printf("]}\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--equiv") == 0) return equiv();
    test_comparisons();
    test_logic();
    test_predicates();
    test_arithmetic_and_functions();
    test_params();
    test_errors();
    test_sql();
    test_columns();
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("test_where: all passed\n");
    return failures ? 1 : 0;
}
