/* Runs a Check suite and turns its result into an exit code. */
#ifndef TRM_CHECK_RUN_H
#define TRM_CHECK_RUN_H

#include <check.h>
#include <stdbool.h>

static inline int trm_check_run(Suite *s, bool fork_tests)
{
    SRunner *sr = srunner_create(s);
    if (!fork_tests)
        srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

#endif
