/* SPDX-License-Identifier: MIT */
/*
 * init.c - start-up, fork and exit.
 *
 * Owns the one-time initialisation (run by the first allocation of any
 * thread, so it works before constructors and in dlopen'ed code), the fork
 * handlers and the call of the report at exit.  Initialisation must not
 * allocate: it reads options from the environment, builds the class table,
 * sets up the arenas, sets the hooks by which lower layers tell upper ones
 * (doc/architecture.md, Layers), and registers the thread-exit key and the
 * fork handlers.  This is the top layer: it calls every other one.
 */
#include "internal.h"
#include "arena.h"
#include "control.h"
#include "debug.h"
#include "large.h"
#include "leak.h"
#include "options.h"
#include "report.h"
#include "os.h"
#include "slab.h"
#include "sample.h"
#include "stats.h"
#include "heap.h"
#include "zone.h"

int _strata_initialized;

static strata_lock_t init_lock = STRATA_LOCK_INIT;

/* ------------------------------------------------------------------------
 * fork: hold every lock across fork so the child never inherits a lock
 * taken by a thread that does not exist there.
 * ---------------------------------------------------------------------- */
static void fork_prepare(void)
{
	lock_acquire(&init_lock);
	zone_lock_all();
	cache_registry_lock();
	heap_registry_lock();
	huge_lock();
	guard_lock_all();
	leak_lock();
	arena_lock_all();
	arena_fork_copy_hugetlb(); /* the child's copy of hugetlb memory (os.c) */
	huge_fork_copy_hugetlb();
}

static void fork_parent(void)
{
	os_fork_copy_parent();
	arena_unlock_all();
	leak_unlock();
	guard_unlock_all();
	huge_unlock();
	heap_registry_unlock();
	cache_registry_unlock();
	zone_unlock_all();
	lock_release(&init_lock);
}

static void fork_child(void)
{
	os_fork_copy_child(); /* first: before anything reads hugetlb memory */
	arena_fork_copied_child();
	huge_fork_copied_child();
	os_fork_copy_done();
	lock_owner_forget();
	arena_reinit_locks();
	leak_reinit_lock();
	huge_reinit_lock();
	guard_reinit_lock();
	heap_registry_after_fork_child();
	cache_after_fork_child();
	zone_after_fork_child();
	arena_background_after_fork_child();
	lock_reinit(&init_lock);
	control_after_fork_child();
}

/* ------------------------------------------------------------------------
 * Start-up
 * ---------------------------------------------------------------------- */
/* Set while this thread runs the libc calls at the end of start-up: should
 * one of them allocate, the allocation proceeds (the arenas are ready)
 * instead of waiting on the lock this thread holds. */
static __thread bool initializing tls_ie;

void _strata_init_slow(void)
{
	if (initializing)
		return;
	lock_acquire(&init_lock);
	if (_strata_initialized) {
		lock_release(&init_lock);
		return;
	}
	options_init();
	if (strata_option(OPT_VERBOSE))
		_strata_fatal_set_hook(leak_print_stack);
	os_keys_init();
	slab_classes_init();
	sample_init();
	report_init();
	nodes_init();
	arenas_setup();
	heaps_init();
	arena_set_background_hook(huge_cache_decay);
	arena_set_reclaim_hook(slab_reclaim_abandoned);
	arena_set_peak_hook(huge_cache_follow);
	arena_set_outside_hook(huge_mapped_bytes);
	heap_set_start_hook(report_stats_file_start);
	initializing = true;
	pthread_key_create(&_strata_heap_key, heap_thread_exit);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (strata_option(OPT_RESERVE) > 0)
		arenas_reserve((size_t)strata_option(OPT_RESERVE));
	guard_set_fault_lookup(huge_fault_lookup);
	if (debug_mode() || strata_option(OPT_FAULT_HANDLER))
		guard_start(debug_mode());
	initializing = false;
	/* Published last: a thread that sees it sees the key too. */
	__atomic_store_n(&_strata_initialized, 1, __ATOMIC_RELEASE);
	lock_release(&init_lock);
	control_start();
}

/* Runs once libc is up (in a static program, after its own start-up,
 * which already mallocs): only then may the leak tracker unwind stacks,
 * and strata start a thread of its own. */
__attribute__((constructor)) static void strata_at_start(void)
{
	leak_stacks_ready();
	control_libc_ready();
}

/* ------------------------------------------------------------------------
 * Exit
 * ---------------------------------------------------------------------- */
__attribute__((destructor)) static void strata_at_exit(void)
{
	if (_strata_initialized && strata_option(OPT_EXIT_CHECK)) {
		heap_verify();
		huge_cache_verify();
	}
	if (_strata_initialized)
		report_at_exit();
	control_at_exit();
}
