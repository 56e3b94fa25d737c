/* The one assertion the C++ tests use: report the failed condition and make the
 * enclosing int-returning function fail, so that main() can run every test. */
#ifndef SPEAD2_TESTS_CHECK_H
#define SPEAD2_TESTS_CHECK_H

#include <cstdio>

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                     \
        }                                                                 \
    } while (0)

#endif // SPEAD2_TESTS_CHECK_H
