/*
 * check_compat.h: shared glue for the Check unit tests.
 *
 * CHECK_MAIN(suite_fn) defines main(): runs the suite, prints Check's
 * summary, exits 0 only if every test passed.
 */
#ifndef OCTO_CHECK_COMPAT_H
#define OCTO_CHECK_COMPAT_H

#include <check.h>
#include <stdlib.h>

#define CHECK_MAIN(suite_fn)                                                                       \
	int main(void)                                                                             \
	{                                                                                          \
		SRunner *sr = srunner_create(suite_fn());                                          \
		int failed;                                                                        \
		srunner_run_all(sr, CK_NORMAL);                                                    \
		failed = srunner_ntests_failed(sr);                                                \
		srunner_free(sr);                                                                  \
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                  \
	}

#endif
