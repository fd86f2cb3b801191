/* The main() of every unit-test program: run one Check suite and exit
 * non-zero when any test failed. */
#ifndef PVMM_TESTS_CHECK_MAIN_H
#define PVMM_TESTS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int check_main__run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define CHECK_MAIN(suite_fn) \
	int main(void) { return check_main__run(suite_fn()); }

#endif
