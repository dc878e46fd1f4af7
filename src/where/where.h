/* Shape `where` clauses: a subset of Postgres boolean expressions, compiled once per shape,
 * evaluated in C on replicated rows, and rendered back as SQL whose every literal and parameter is
 * a bind placeholder, so that no user text ever reaches Postgres as SQL.
 *
 * Self-contained: the compiler (the .c files of src/where; where.c holds these functions and
 * names the others) depends on libc and libm only (no libpq, no server headers), allocates with
 * malloc/free, never aborts, and is total over every input byte.
 *
 * Language (a subset of what Electric accepts, docs/protocol.md §7.4):
 *   - comparisons = <> != < <= > >=, IS [NOT] DISTINCT FROM, AND OR NOT, parentheses
 *   - IS [NOT] NULL, ISNULL, NOTNULL, IS [NOT] TRUE | FALSE | UNKNOWN
 *   - x [NOT] IN (a, b, ...), x [NOT] BETWEEN a AND b
 *   - [NOT] LIKE / ILIKE with % and _ (one character) and the backslash escape
 *   - + - * / on numbers (% on integers), unary + and -
 *   - literals: integers, decimals (1.5, .5, 1e3), 'strings' ('' escapes), TRUE FALSE NULL
 *   - $n parameters, typed from their context like an untyped 'string' literal
 *   - casts expr::type (and CAST-free spellings only) to int2 int4 int8 numeric float4 float8
 *     bool text varchar bpchar uuid date timestamp timestamptz time, with the SQL synonyms
 *     integer, bigint, smallint, real, double precision, decimal, boolean, character varying, char
 *   - "Quoted" identifiers (case-sensitive) and unquoted ones folded to lower case
 *   - functions lower(text), upper(text) (ASCII case mapping only), coalesce(a, b, ...)
 * Everything else (subqueries, other functions, array/JSON operators, `;`, comments) is refused
 * with a message in Electric's style. See where_check.c for the type rules.
 */
#ifndef ESYNC_WHERE_H
#define ESYNC_WHERE_H

#include <stddef.h>

/* Return codes (negative). The message written to err says more. */
#define ESYNC_WHERE_EINVAL (-1)  /* bad arguments (NULL text or out, negative counts) */
#define ESYNC_WHERE_ESYNTAX (-2) /* not a valid expression */
#define ESYNC_WHERE_ETYPE (-3)   /* unknown column, type mismatch, not a boolean, bad literal */
#define ESYNC_WHERE_EPARAM (-4)  /* $n not provided, a provided value not used */
#define ESYNC_WHERE_EUNSUPPORTED (-5) /* valid SQL outside the supported subset */
#define ESYNC_WHERE_ELIMIT (-6)       /* text longer than ESYNC_WHERE_MAX_TEXT, nesting too deep */
#define ESYNC_WHERE_ENOMEM (-7)

#define ESYNC_WHERE_MAX_TEXT 16384 /* bytes of clause text */
#define ESYNC_WHERE_MAX_DEPTH 64   /* nesting of parentheses and operators */

typedef struct esync_where esync_where;

/* One column of the shape's table, in the order the row values will be given to eval. */
typedef struct esync_where_col {
    const char *name; /* exact (case-sensitive) column name */
    const char *type; /* Postgres typname: int2 int4 int8 float4 float8 numeric bool text varchar
                         bpchar uuid date timestamp timestamptz time; any other name (jsonb,
                         bytea, _int4, ...) is accepted but such a column can only be tested with
                         IS [NOT] NULL */
    int dims;         /* array dimensions; > 0 makes the column usable only with IS [NOT] NULL */
} esync_where_col;

/* Compiles `text` (UTF-8, NUL-terminated, at most ESYNC_WHERE_MAX_TEXT bytes) against the columns,
 * with params[0..nparams-1] (UTF-8 texts, none NULL) as the values of $1..$nparams.
 *
 * Nothing is borrowed: text, params and cols may be freed as soon as this returns.
 * On success returns 0 and stores in *out a clause to free with esync_where_free.
 * On failure returns one of the negative codes above, sets *out to NULL and writes a NUL-terminated
 * message into err (truncated to errlen; err may be NULL when errlen is 0). The messages follow
 * Electric's: `At location 17: syntax error at or near "x"` (syntax errors count the bytes of
 * Electric's "SELECT 1 WHERE " prefix, as Electric does; other locations are byte offsets into
 * text), `WHERE clause must return a boolean`, `At location 4: parameter $2 was not provided`,
 * `At location 0: unknown reference foo`, `At location 6: Could not select an operator overload`. */
int esync_where_compile(const char *text, const char *const *params, int nparams,
                        const esync_where_col *cols, int ncols, esync_where **out, char *err,
                        size_t errlen);

/* Evaluates the clause on one row. values[i] is column i's Postgres text output (as pgoutput or
 * `col::text` give it; booleans as t/f or true/false), or NULL for SQL NULL; only the columns
 * listed by esync_where_columns are read. Returns 1 when the clause is TRUE, 0 when it is FALSE or
 * NULL (SQL three-valued logic). A value that is not valid text for its column type reads as NULL;
 * so does a computation that Postgres would reject with an error (division by zero, integer
 * overflow, an invalid cast of a column value). Thread-safe for concurrent calls on one clause. */
int esync_where_eval(const esync_where *w, const char *const *values);

/* Renders the clause as SQL for a WHERE of a query on the same table: identifiers double-quoted,
 * every operator parenthesized, each literal and $n parameter a placeholder `$k::type` with k
 * counting up from first_param (>= 1); NULL literals stay `NULL::type`.
 * On success returns 0, *sql is a malloc'ed NUL-terminated string, *param_values a malloc'ed array
 * of *nparam_values NUL-terminated texts (the value of $first_param, $first_param+1, ...) in the
 * same single allocation: free(*sql) and free(*param_values) release everything (*param_values may
 * be NULL when *nparam_values is 0). Returns ESYNC_WHERE_ENOMEM or ESYNC_WHERE_EINVAL on failure,
 * with the outputs set to NULL/0. */
int esync_where_sql(const esync_where *w, int first_param, char **sql, char ***param_values,
                    int *nparam_values);

/* The column indexes the clause reads, ascending, without duplicates: stores a pointer to them
 * (borrowed, valid until esync_where_free) in *cols and returns how many. An update that changes
 * none of them cannot change the clause's result. */
int esync_where_columns(const esync_where *w, const int **cols);

/* Frees a compiled clause; NULL is a no-op. */
void esync_where_free(esync_where *w);

#endif
