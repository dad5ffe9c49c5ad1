/* SPDX-License-Identifier: MIT */
/* The debug mode (STRATA_DEBUG=1): canaries, freed-memory fill, the heap
 * check, each bug caught with its one-line message; and no false alarm on
 * a correct workload.  The modes are in debug_child.c, run with strata
 * preloaded. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include "testutil.h"

static void run_debug_child_env(const char *mode, const char *debug, const char *more,
                                struct child_result *r)
{
	char lib[4096];
	snprintf(lib, sizeof(lib), "LD_PRELOAD=%s", getenv("LIBSTRATA") ? getenv("LIBSTRATA") : "");
	char *argv[] = { DEBUG_CHILD_PATH, (char *)mode, NULL };
	char *envp[] = { lib, (char *)debug, "STRATA_LEAK=off", (char *)more, NULL };
	spawn_child(argv, envp, 60, r);
}

static void run_debug_child(const char *mode, const char *debug, struct child_result *r)
{
	run_debug_child_env(mode, debug, NULL, r);
}

/* The child ran to its end (exit 0); quiet: and said nothing. */
static void expect_runs(const char *mode, const char *debug, bool quiet)
{
	struct child_result r;
	run_debug_child(mode, debug, &r);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "%s: status %#x: %s", mode,
	          r.status, r.err);
	if (quiet)
		cr_assert_eq(r.err[0], '\0', "%s: stderr: %s", mode, r.err);
}

static void expect_caught(const char *mode, const char *what)
{
	cr_assert_not_null(getenv("LIBSTRATA"), "LIBSTRATA must name libstrata.so");
	struct child_result r;
	run_debug_child(mode, "STRATA_DEBUG=1", &r);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT,
	          "%s: status %#x, stderr: %s", mode, r.status, r.err);
	cr_assert_eq(strncmp(r.err, "strata: ", 8), 0, "%s: %s", mode, r.err);
	cr_assert_not_null(strstr(r.err, what), "%s: expected '%s' in: %s", mode, what, r.err);
	char *nl = strchr(r.err, '\n');
	cr_assert(nl && nl[1] == '\0', "%s: one line: %s", mode, r.err);
}

Test(debug, overflow_by_one_byte_small)
{
	expect_caught("overflow_small", "heap overflow");
}
Test(debug, overflow_of_an_exact_class_size)
{
	expect_caught("overflow_class", "heap overflow");
}
/* Guarded blocks: the guard page after the block stops the write. */
Test(debug, overflow_large)
{
	expect_caught("overflow_large", "heap overflow: write past the end at 0x");
}
Test(debug, overflow_huge)
{
	expect_caught("overflow_huge", "heap overflow: write past the end at 0x");
}
Test(debug, overflow_after_realloc)
{
	expect_caught("overflow_realloc", "heap overflow");
}
Test(debug, overflow_aligned)
{
	expect_caught("overflow_aligned", "heap overflow");
}
Test(debug, underflow_seen_from_the_block_below)
{
	expect_caught("underflow", "heap underflow before");
}
Test(debug, write_after_free_small)
{
	expect_caught("uaf_small", "write after free");
}
Test(debug, write_after_free_large)
{
	expect_caught("uaf_large", "write after free");
}

/* A freed guarded block is closed: a read faults, and the handler names
 * the block. */
Test(debug, read_after_free_faults)
{
	expect_caught("uaf_read_small", "read after free at 0x");
	expect_caught("uaf_read_small", "of 32 bytes, freed)");
}
Test(debug, malloc0_is_distinct_and_faults)
{
	expect_caught("malloc0", "read through malloc(0)'s pointer at 0x");
}
Test(debug, quarantine_does_not_reuse_at_once)
{
	expect_runs("quarantine", "STRATA_DEBUG=1", false);
}

/* A fault that is not in strata's guard areas keeps its default action. */
Test(debug, other_faults_pass_through)
{
	struct child_result r;
	run_debug_child("segv_passes_through", "STRATA_DEBUG=1", &r);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV, "status %#x: %s",
	          r.status, r.err);
	cr_assert_eq(r.err[0], '\0', "stderr: %s", r.err);
	run_debug_child("stack_overflow", "STRATA_DEBUG=1", &r);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV, "status %#x: %s",
	          r.status, r.err);
}

/* The kind of a block (malloc, new, new[]) is checked by delete. */
static void expect_kind_caught(const char *prog, const char *what)
{
	struct child_result r;
	char                lib[4096];
	snprintf(lib, sizeof(lib), "LD_PRELOAD=%s", getenv("LIBSTRATA"));
	char *argv[] = { DEBUG_CXX_CHILD_PATH, (char *)prog, NULL };
	char *envp[] = { lib, "STRATA_DEBUG=1", "STRATA_LEAK=off", NULL };
	spawn_child(argv, envp, 60, &r);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT, "%s: status %#x: %s",
	          prog, r.status, r.err);
	cr_assert_not_null(strstr(r.err, what), "%s: expected '%s' in: %s", prog, what, r.err);
}
Test(debug, kind_mismatch)
{
	expect_kind_caught("malloc_delete",
	                   "the block came from malloc (a malloc/delete mismatch)");
	expect_kind_caught("new_delete_array", "the block came from new (a new/delete[] mismatch)");
	expect_kind_caught("new_array_delete",
	                   "the block came from new[] (a new[]/delete mismatch)");
	expect_kind_caught("malloc_delete_big", "a malloc/delete mismatch");
}
Test(debug, kinds_right_run_clean)
{
	struct child_result r;
	char                lib[4096];
	snprintf(lib, sizeof(lib), "LD_PRELOAD=%s", getenv("LIBSTRATA"));
	char *argv[] = { DEBUG_CXX_CHILD_PATH, "clean", NULL };
	char *envp[] = { lib, "STRATA_DEBUG=1", "STRATA_LEAK=off", NULL };
	spawn_child(argv, envp, 60, &r);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %#x: %s", r.status,
	          r.err);
	cr_assert_eq(r.err[0], '\0', "stderr: %s", r.err);
}
/* Blocks of private heaps and caches have no debug layout: free() and
 * malloc_usable_size() of them, and of a cache's object grown by realloc(),
 * raise no alarm (the fuzz harness in the debug mode found both). */
Test(debug, pools_blocks_freed_by_free_run_clean)
{
	expect_runs("pools_clean", "STRATA_DEBUG=1", true);
}

Test(debug, heap_block_freed_after_destroy)
{
	expect_caught("heap_free_after_destroy",
	              "block of a private heap that was reset or destroyed");
}

/* The debug mode keeps a destroyed heap's slabs without access. */
Test(debug, heap_block_read_after_destroy)
{
	struct child_result r;
	run_debug_child("heap_read_after_destroy", "STRATA_DEBUG=1", &r);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV, "status %#x, stderr: %s",
	          r.status, r.err);
}

/* Without the debug mode the overflow by one byte inside the class's slack
 * goes unseen: the mode is what catches it. */
Test(debug, off_without_the_mode)
{
	expect_runs("overflow_small", "STRATA_DEBUG=0", false);
}

Test(debug, heap_check_sees_a_write_to_a_free_object)
{
	struct child_result r;
	/* a block of the canary layout: a guarded one would fault */
	run_debug_child_env("check_heap", "STRATA_DEBUG=1", "STRATA_GUARD=0", &r);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %#x: %s", r.status,
	          r.err);
	cr_assert_not_null(strstr(r.err, "written after free"), "stderr: %s", r.err);
}

Test(debug, correct_program_runs_clean, .timeout = 120)
{
	expect_runs("clean", "STRATA_DEBUG=1", true);
}

Test(debug, freed_memory_still_goes_back, .timeout = 120)
{
	struct child_result r;
	run_debug_child("trim", "STRATA_DEBUG=1", &r);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status %#x: %s", r.status,
	          r.err);
}
