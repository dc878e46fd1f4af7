/* Test harness: CHECK records a failure and goes on; a test's main returns harness_result(). */
#ifndef HARNESS_H
#define HARNESS_H

extern int harness_failures;
void harness_fail(const char *file, int line, const char *expr);
char *harness_tmpdb(void);
void harness_rmdb(char *path);

#define CHECK(x) ((x) ? (void)0 : harness_fail(__FILE__, __LINE__, #x))
#define CHECK_EQ_INT(a, b) CHECK((a) == (b))
#define harness_result() (harness_failures ? 1 : 0)

#endif
