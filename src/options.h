/* SPDX-License-Identifier: MIT */
/*
 * options.h - strata's tunables, one table, read once at start.
 */
#ifndef STRATA_OPTIONS_H
#define STRATA_OPTIONS_H

#include <stdbool.h>

#include "internal.h"

enum option_id {
	OPT_VERBOSE,
	OPT_ARENAS,
	OPT_TCACHE,
	OPT_TCACHE_MAX,
	OPT_DECAY_MS,
	OPT_HUGEPAGES,
	OPT_LEAK,
	OPT_LEAK_SAMPLE,
	OPT_REPORT,
	OPT_REPORT_FILE,
	OPT_STATS_FILE,
	OPT_STATS_INTERVAL,
	OPT_FAULT_MMAP,
	OPT_DEBUG,
	OPT_RESERVE,
	OPT_HUGETLB_1G,
	OPT_NUMA,
	OPT_BACKGROUND,
	OPT_PROFILE_FILE,
	OPT_CONTROL,
	OPT_GUARD,
	OPT_QUARANTINE,
	OPT_TRACE_FILE,
	OPT_FAULT_HANDLER,
	OPT_HUGE_CLOSE,
	OPT_EXIT_CHECK,
	OPT_MEMORY_LIMIT,
	OPT_LEAK_SAMPLE_RATE,
	NUM_OPTIONS
};

enum hugepages_mode {
	HUGEPAGES_OFF = 0,
	HUGEPAGES_THP = 1,
	HUGEPAGES_AUTO = 2,
	HUGEPAGES_HUGETLB = 3
};
enum numa_mode { NUMA_OFF = 0, NUMA_PREFERRED = 1, NUMA_STRICT = 2 };
enum background_mode { BACKGROUND_OFF = 0, BACKGROUND_ON = 1, BACKGROUND_AUTO = 2 };

struct option_desc {
	const char        *name; /* lower case; STRATA_<NAME> in the environment */
	long               def;
	long               min;
	long               max;
	const char        *doc;
	const char *const *words;   /* if set, the values by name: words[i] is i */
	bool               is_path; /* a file name, kept in _strata_option_paths */
};

#define OPTION_PATH_MAX 1024
extern char _strata_option_paths[NUM_OPTIONS][OPTION_PATH_MAX] strata_hidden;

static inline const char *strata_option_path(enum option_id id)
{
	return _strata_option_paths[id][0] ? _strata_option_paths[id] : NULL;
}

extern long                     _strata_option_values[NUM_OPTIONS] strata_hidden;
extern const struct option_desc _strata_option_table[NUM_OPTIONS];

static inline long strata_option(enum option_id id)
{
	return _strata_option_values[id];
}

void options_init(void);
bool options_parse_value(const char *text, long *out);
int  options_set(const char *name, size_t name_len, const char *value);

#endif
