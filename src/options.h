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
	NUM_OPTIONS
};

struct option_desc {
	const char *name;     /* lower case; STRATA_<NAME> in the environment */
	long        def;
	long        min;
	long        max;
	const char *doc;
};

extern long _strata_option_values[NUM_OPTIONS] strata_hidden;
extern const struct option_desc _strata_option_table[NUM_OPTIONS];

static inline long strata_option(enum option_id id)
{
	return _strata_option_values[id];
}

void options_init(void);
bool options_parse_value(const char *text, long *out);
int  options_set(const char *name, size_t name_len, const char *value);

#endif
