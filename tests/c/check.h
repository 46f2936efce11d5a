/*
** check.h: the small test harness the C tests share: pass/fail counters,
** CHECK, literal helpers and the closing report. Include it once, from one
** test file; gradcheck.h adds gradient checks on top of it.
*/
#ifndef BRASA_TEST_CHECK_H
#define BRASA_TEST_CHECK_H

#include "brasa.h"

#include <stdio.h>

static int passed, failed;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (cond) {                                            \
      passed++;                                            \
    } else {                                               \
      failed++;                                            \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);          \
      printf(__VA_ARGS__);                                 \
      printf("\n");                                        \
    }                                                      \
  } while (0)

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define VALS(...) ((const double[]){__VA_ARGS__})
#define NVALS(...) ((int64_t)(sizeof((const double[]){__VA_ARGS__}) / sizeof(double)))

/* Prints "N passed, M failed" and returns the exit status: 1 when a check
** failed, else 0. */
static int check_report(void) {
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}

#endif
