/* SPDX-License-Identifier: MIT */
/* The multithreaded stress workload under criterion. */
#include <criterion/criterion.h>

#include "strata.h"
#include "stress.h"

Test(stress, four_threads_random_sizes_cross_thread_frees, .timeout = 300)
{
	cr_assert_eq(stress_run(4, 100000, 1), 0, "corrupted blocks found");
	cr_assert_eq(strata_check_heap(), 0, "heap invariants hold after the run");
}

Test(stress, many_threads_short_runs, .timeout = 300)
{
	for (unsigned round = 0; round < 5; round++)
		cr_assert_eq(stress_run(16, 5000, round + 7), 0, "round %u", round);
	cr_assert_eq(strata_check_heap(), 0);
}

Test(stress, producers_exit_while_consumers_free_their_blocks, .timeout = 300)
{
	cr_assert_eq(stress_handoff(6, 2, 2, 30000), 0, "corrupted blocks found");
	cr_assert_eq(strata_check_heap(), 0);
	strata_trim();
	cr_assert_eq(strata_check_heap(), 0);
}
