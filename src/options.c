/* SPDX-License-Identifier: MIT */
/*
 * options.c - the options table and its parser.
 *
 * Every tunable is one row: name, default, range and a line of doc (doc/
 * options.md is kept beside this table).  Values come from STRATA_<NAME>
 * environment variables, or from STRATA_CONF="name=value,name=value"; the
 * environment variable wins.  Parsing happens once, at the first allocation,
 * so it must not allocate: getenv and stack buffers only.  An unknown
 * STRATA_ variable or key gets a warning, a bad value a message naming the
 * option and its range, and the option keeps its previous value.
 */
#include "internal.h"
#include "options.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

static const char *const leak_words[] = { "off", "sampled", "full", NULL };
static const char *const hugepages_words[] = { "off", "thp", "auto", "hugetlb", NULL };
static const char *const numa_words[] = { "off", "preferred", "strict", NULL };
static const char *const report_words[] = { "off", "text", "json", "prometheus", NULL };
static const char *const background_words[] = { "off", "on", "auto", NULL };

/* One option to a row, its doc aligned: kept out of clang-format. */
/* clang-format off */
const struct option_desc _strata_option_table[NUM_OPTIONS] = {
	[OPT_VERBOSE]    = { "verbose", 0, 0, 1,
	                     "1: print heap statistics on stderr at exit" },
	[OPT_ARENAS]     = { "arenas", 0, 0, 64,
	                     "number of arenas; 0 = one per CPU the process may run on" },
	[OPT_TCACHE]     = { "tcache", 1, 0, 1,
	                     "per-thread heaps (0: every small call goes to the arenas' shared "
	                     "heaps, under a lock)" },
	[OPT_TCACHE_MAX] = { "tcache_max", 128, 1, 4096,
	                     "most objects of other threads a heap keeps per size class for "
	                     "reuse" },
	[OPT_DECAY_MS]   = { "decay_ms", 1000, -1, 3600000,
	                     "free memory beyond the heap's recent peak goes back to the OS "
	                     "within this time; 0: at once, -1: only on malloc_trim" },
	[OPT_HUGEPAGES]  = { "hugepages", HUGEPAGES_OFF, 0, 3,
	                     "huge pages: off, thp (every region advised), auto (THP for regions "
	                     "after an arena's first), hugetlb (MAP_HUGETLB 2 MiB pages, else "
	                     "thp, else 4 KiB)",
	                     hugepages_words },
	[OPT_LEAK]       = { "leak", 1, 0, 2,
	                     "leak tracking: off, sampled (about one block per leak_sample "
	                     "bytes), full (every block)",
	                     leak_words },
	[OPT_LEAK_SAMPLE] = { "leak_sample", 2 << 20, 4096, 1L << 30,
	                     "mean bytes allocated between two recorded blocks when leak=sampled" },
	[OPT_REPORT]     = { "report", 0, 0, 3,
	                     "report at exit on stderr: off, text, json, "
	                     "prometheus", report_words },
	[OPT_REPORT_FILE] = { "report_file", 0, 0, 0,
	                     "write the report at exit to this file instead of "
	                     "stderr", NULL, true },
	[OPT_STATS_FILE] = { "stats_file", 0, 0, 0,
	                     "rewrite this file with the Prometheus report every stats_interval "
	                     "seconds",
	                     NULL, true },
	[OPT_STATS_INTERVAL] = { "stats_interval", 10, 1, 86400,
	                     "seconds between two rewrites of stats_file and two samples of trace_file" },
	[OPT_FAULT_MMAP] = { "fault_mmap", 0, 0, 1000000,
	                     "for tests: every memory mapping from the n-th on fails (0: none)" },
	[OPT_DEBUG]      = { "debug", 0, 0, 1,
	                     "1: canaries after blocks, freed memory filled, guard pages, a "
	                     "quarantine, new/delete kinds, all checked; "
	                     "every call a slow path" },
	[OPT_RESERVE]    = { "reserve", 0, 0, 1L << 40,
	                     "bytes of heap mapped and faulted in at start and never given back "
	                     "(in whole regions)" },
	[OPT_HUGETLB_1G] = { "hugetlb_1g", 0, 0, 1,
	                     "1: with hugepages=hugetlb, blocks of 1 GiB or more on 1 GiB pages "
	                     "when the pool has them" },
	[OPT_NUMA]       = { "numa", NUMA_PREFERRED, 0, 2,
	                     "NUMA-local arenas: off, preferred (regions bound with "
	                     "MPOL_PREFERRED), strict (MPOL_BIND)",
	                     numa_words },
	[OPT_BACKGROUND] = { "background", BACKGROUND_AUTO, 0, 2,
	                     "a thread that runs the decay, so an idle "
	                     "program gives back what it freed: off, on, auto "
	                     "(once the heap has grown past 32 MiB)", background_words },
	[OPT_PROFILE_FILE] = { "profile_file", 0, 0, 0,
	                     "write a heap profile in gperftools' format at exit to this file; %p "
	                     "is replaced by the pid",
	                     NULL, true },
	[OPT_CONTROL]    = { "control", 0, 0, 1,
	                     "1: serve a control socket for strata-ctl at $XDG_RUNTIME_DIR/strata/PID.sock or /tmp/strata-UID/PID.sock" },
	[OPT_GUARD]      = { "guard", 8192, 0, 32768,
	                     "debug mode: most blocks served at a time with a guard page after "
	                     "them (half of it for blocks under a page); 0: none" },
	[OPT_QUARANTINE] = { "quarantine", 64L << 20, 0, 1L << 40,
	                     "debug mode: bytes of address space of freed guarded blocks kept "
	                     "without access before they are reused" },
	[OPT_TRACE_FILE] = { "trace_file", 0, 0, 0,
	                     "append a JSON sample of the heap (totals, classes, arenas, biggest "
	                     "leak sites, heap map) every stats_interval seconds; %p is the pid",
	                     NULL, true },
	[OPT_FAULT_HANDLER] = { "fault_handler", 1, 0, 1,
	                     "1: a SIGSEGV or SIGBUS in memory strata keeps without access "
	                     "(malloc(0)'s blocks, a huge block's guard page, a freed huge block) "
	                     "prints what it hit, then aborts; other faults go to the program's "
	                     "handler; 0: no handler (the debug mode installs it anyway)" },
	[OPT_HUGE_CLOSE] = { "huge_close", 0, 0, 1,
	                     "1: a freed huge block kept for reuse has its first page closed (no "
	                     "access) while it waits, so a use after free through its pointer "
	                     "faults; two mprotect calls per reuse" },
	[OPT_EXIT_CHECK] = { "exit_check", 1, 0, 1,
	                     "1: at exit, the free objects the exiting thread's lists hold are "
	                     "checked (link and key), and a write after free or an overflow "
	                     "into a free object that no malloc met stops the program with "
	                     "one line; 0: not checked" },
	[OPT_MEMORY_LIMIT] = { "memory_limit", -1, -1, 1L << 50,
	                     "bytes the process may use: past a quarter of it the decay keeps "
	                     "an eighth of the pages in use free, under it half; -1: the cgroup's "
	                     "limit (memory.max, memory.high; v1 memory.limit_in_bytes), if any; "
	                     "0: none" },
	[OPT_LEAK_SAMPLE_RATE] = { "leak_sample_rate", 10000, 0, 1000000,
	                     "records per second a thread makes at most, on average, when "
	                     "leak=sampled: past that its interval doubles (up to 64 times), "
	                     "and halves again when it slows; 0: no limit" },
};
/* clang-format on */

char _strata_option_paths[NUM_OPTIONS][OPTION_PATH_MAX];

long _strata_option_values[NUM_OPTIONS];

/* ------------------------------------------------------------------------
 * Values
 * ---------------------------------------------------------------------- */
static bool word_is(const char *text, const char *word)
{
	return strcasecmp(text, word) == 0;
}

/* An integer (decimal, or with a k/m/g suffix), or a boolean word. */
bool options_parse_value(const char *text, long *out)
{
	if (word_is(text, "on") || word_is(text, "yes") || word_is(text, "true")) {
		*out = 1;
		return true;
	}
	if (word_is(text, "off") || word_is(text, "no") || word_is(text, "false")) {
		*out = 0;
		return true;
	}
	char *end;
	long  v = strtol(text, &end, 10), unit = 1;
	if (end == text)
		return false;
	switch (*end) {
	case 'k':
	case 'K':
		unit = 1L << 10;
		end++;
		break;
	case 'm':
	case 'M':
		unit = 1L << 20;
		end++;
		break;
	case 'g':
	case 'G':
		unit = 1L << 30;
		end++;
		break;
	}
	if (*end != '\0' || __builtin_mul_overflow(v, unit, out))
		return false;
	return true;
}

static int option_find(const char *name, size_t len)
{
	for (int i = 0; i < NUM_OPTIONS; i++) {
		const char *n = _strata_option_table[i].name;
		if (strlen(n) == len && strncasecmp(n, name, len) == 0)
			return i;
	}
	return -1;
}

static bool option_word(const char *const *words, const char *text, long *out)
{
	for (long i = 0; words[i]; i++) {
		if (word_is(text, words[i])) {
			*out = i;
			return true;
		}
	}
	return false;
}

static int option_set_path(int id, const char *text)
{
	size_t n = strlen(text);
	if (n >= OPTION_PATH_MAX) {
		_strata_warn("path for option %s longer than %d bytes ignored",
		             _strata_option_table[id].name, OPTION_PATH_MAX - 1);
		return -2;
	}
	memcpy(_strata_option_paths[id], text, n + 1);
	return 0;
}

/* Set option name (not NUL-terminated, len bytes) from text.  Returns 0, or
 * -1 for an unknown name, -2 for a bad value (both already reported). */
int options_set(const char *name, size_t len, const char *text)
{
	int id = option_find(name, len);
	if (id < 0) {
		_strata_warn("unknown option '%.*s' ignored", (int)len, name);
		return -1;
	}
	const struct option_desc *d = &_strata_option_table[id];
	long                      v;
	if (d->is_path)
		return option_set_path(id, text);
	if (d->words && option_word(d->words, text, &v)) {
		_strata_option_values[id] = v;
		return 0;
	}
	if (!options_parse_value(text, &v) || v < d->min || v > d->max) {
		_strata_warn("bad value '%s' for option %s (expected %ld..%ld), using %ld", text,
		             d->name, d->min, d->max, _strata_option_values[id]);
		return -2;
	}
	_strata_option_values[id] = v;
	return 0;
}

/* ------------------------------------------------------------------------
 * Sources
 * ---------------------------------------------------------------------- */
#define CONF_MAX 1024

static void options_from_conf(const char *conf)
{
	char   buf[CONF_MAX];
	size_t n = strlen(conf);
	if (n >= sizeof(buf)) {
		_strata_warn("STRATA_CONF longer than %d bytes ignored", CONF_MAX - 1);
		return;
	}
	memcpy(buf, conf, n + 1);
	for (char *item = buf; item && *item;) {
		char *next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		char *eq = strchr(item, '=');
		if (eq == NULL)
			_strata_warn("STRATA_CONF item '%s' has no '=' and is ignored", item);
		else
			options_set(item, (size_t)(eq - item), eq + 1);
		item = next;
	}
}

#define ENV_PREFIX "STRATA_"

/* STRATA_<NAME>=value for each option. */
static void options_from_env(void)
{
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX)) != 0)
			continue;
		const char *name = *e + strlen(ENV_PREFIX);
		const char *eq = strchr(name, '=');
		if (eq == NULL || strncasecmp(name, "CONF=", 5) == 0)
			continue;
		options_set(name, (size_t)(eq - name), eq + 1);
	}
}

void options_init(void)
{
	for (int i = 0; i < NUM_OPTIONS; i++) {
		_strata_option_values[i] = _strata_option_table[i].def;
		_strata_option_paths[i][0] = '\0';
	}
	const char *conf = getenv("STRATA_CONF");
	if (conf)
		options_from_conf(conf);
	options_from_env();
}
