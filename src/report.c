/* SPDX-License-Identifier: MIT */
/*
 * report.c - the heap report in three forms from one snapshot: text for
 * people, JSON for tools, and the Prometheus text exposition format
 * (metrics strata_*, labels for class, arena, order) for node_exporter's
 * textfile collector.  Also the reports strata writes on its own: at exit
 * (STRATA_REPORT, STRATA_PROFILE_FILE) and every few seconds to
 * STRATA_STATS_FILE and STRATA_TRACE_FILE, from a thread of its own.
 *
 * Output goes through a small stack buffer to a file descriptor: writing a
 * report never allocates, so it can run at exit, from a signal-free
 * background thread or from inside a program that is short of memory.
 */
#include "internal.h"
#include "arena.h"
#include "heapmap.h"
#include "options.h"
#include "os.h"
#include "profile.h"
#include "report.h"
#include "sample.h"
#include "slab.h"
#include "stats.h"
#include "zone.h"
#include "strata.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Buffered output
 * ---------------------------------------------------------------------- */
#define OUT_BUFFER 4096

struct out {
	int    fd;
	int    failed;
	size_t len;
	char   buf[OUT_BUFFER];
};

static void out_flush(struct out *o)
{
	size_t done = 0;
	while (done < o->len && !o->failed) {
		ssize_t n = write(o->fd, o->buf + done, o->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			o->failed = 1;
		else
			done += (size_t)n;
	}
	o->len = 0;
}

__attribute__((format(printf, 2, 3))) static void out(struct out *o, const char *fmt, ...)
{
	char    line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	size_t len = MIN((size_t)n, sizeof(line) - 1);
	if (o->len + len > sizeof(o->buf))
		out_flush(o);
	memcpy(o->buf + o->len, line, len);
	o->len += len;
}

static double percent(size_t part, size_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static const char *requested_kind(const struct strata_stats *st, int leak_mode)
{
	if (leak_mode == LEAK_OFF)
		return "unknown";
	return st->requested_exact ? "exact" : "estimate";
}

/* Where the memory limit the decay follows comes from. */
static const char *limit_kind(void)
{
	long opt = strata_option(OPT_MEMORY_LIMIT);
	return opt > 0 ? "memory_limit" : opt == 0 || arena_memory_limit() == 0 ? "none" : "cgroup";
}

/* ------------------------------------------------------------------------
 * Text
 * ---------------------------------------------------------------------- */
static void text_totals(struct out *o, const struct strata_stats *st, int leak_mode)
{
	out(o, "strata %s heap report (pid %d)\n", PACKAGE_VERSION, (int)getpid());
	out(o, "  requested     %14zu bytes (%s)\n", st->requested, requested_kind(st, leak_mode));
	out(o, "  allocated     %14zu bytes in live blocks (class-rounded)\n", st->allocated);
	out(o, "  cached        %14zu bytes free in heaps' lists and caches\n", st->cached);
	out(o, "  active        %14zu bytes of pages in use\n", st->active);
	out(o, "  resident      %14zu bytes\n", st->resident);
	out(o, "  mapped        %14zu bytes\n", st->mapped);
	out(o, "  metadata      %14zu bytes\n", st->metadata);
	out(o, "  memory limit  %14zu bytes (%s)\n", arena_memory_limit(), limit_kind());
	out(o, "  calls         %14llu mallocs, %llu frees, %llu live\n",
	    (unsigned long long)st->nmalloc, (unsigned long long)st->nfree,
	    (unsigned long long)(st->nmalloc - st->nfree));
	out(o, "fragmentation\n");
	out(o, "  internal      %14zu bytes (%.1f%% of allocated: rounding to classes)\n",
	    st->internal, percent(st->internal, st->allocated));
	out(o, "  slab slack    %14zu bytes (free slots in slabs)\n", st->slab_slack);
	out(o, "  free pages    %14zu bytes (%zu dirty)\n", st->free_bytes, st->dirty_bytes);
	out(o, "  resident / %s %.2f\n", st->requested ? "requested" : "allocated",
	    st->resident_ratio);
	out(o,
	    "  huge pages    hugetlb %zu bytes (%zu resident), THP-advised %zu, fallbacks %llu,"
	    " reserved %zu\n",
	    st->hugetlb_mapped, st->hugetlb_resident, st->thp_mapped,
	    (unsigned long long)st->hugetlb_fallbacks, st->reserved);
	out(o, "  buddyinfo     order ");
	for (unsigned k = 0; k < STRATA_ORDERS; k++)
		out(o, "%7u", k);
	out(o, "\n                free  ");
	for (unsigned k = 0; k < STRATA_ORDERS; k++)
		out(o, "%7zu", st->free_blocks[k]);
	out(o, "\n                unusable");
	for (unsigned k = 0; k < STRATA_ORDERS; k++)
		out(o, k ? "%7.3f" : "%6.3f", st->unusable_index[k]);
	out(o, "\n");
}

static void text_classes(struct out *o, const struct heap_snapshot *s)
{
	out(o, "size classes (with blocks)\n");
	out(o, "  %7s %10s %10s %8s %12s %12s %12s\n", "size", "live", "cached", "slabs",
	    "slack bytes", "mallocs", "frees");
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		struct strata_class_stats cs = { .struct_size = sizeof(cs) };
		stats_class_fill(s, c, &cs);
		if (cs.slabs == 0 && cs.nmalloc == 0)
			continue;
		out(o, "  %7zu %10zu %10zu %8zu %12zu %12llu %12llu\n", cs.size, cs.objects_live,
		    cs.objects_cached, cs.slabs, cs.slack_bytes, (unsigned long long)cs.nmalloc,
		    (unsigned long long)cs.nfree);
	}
}

static void text_arenas(struct out *o)
{
	out(o, "arenas\n");
	out(o, "  %5s %4s %8s %14s %14s %14s %14s\n", "arena", "node", "regions", "mapped",
	    "active", "free", "dirty");
	for (unsigned i = 0; i < _strata_narenas; i++) {
		struct strata_arena_stats as = { .struct_size = sizeof(as) };
		stats_arena_fill(i, &as);
		out(o, "  %5u %4d %8zu %14zu %14zu %14zu %14zu\n", as.index, as.node, as.regions,
		    as.mapped, as.active, as.free_bytes, as.dirty_bytes);
	}
}

static void text_nodes(struct out *o)
{
	out(o, "nodes\n");
	out(o, "  %4s %5s %6s %14s %14s %14s %12s %12s\n", "node", "cpus", "arenas", "mapped",
	    "active", "resident", "frees local", "remote");
	struct strata_node_stats all[NUMA_MAX_NODES];
	stats_nodes_fill(all);
	for (unsigned n = 0; n < NUMA_MAX_NODES; n++) {
		const struct strata_node_stats *ns = &all[n];
		if (ns->node < 0)
			continue;
		out(o, "  %4d %5u %6u %14zu %14zu %14zu %12llu %12llu\n", ns->node, ns->ncpus,
		    ns->narenas, ns->mapped, ns->active, ns->resident,
		    (unsigned long long)ns->frees_local, (unsigned long long)ns->frees_remote);
	}
}

/* ------------------------------------------------------------------------
 * JSON
 * ---------------------------------------------------------------------- */
static void json_array_sizes(struct out *o, const char *key, const size_t *v, unsigned n)
{
	out(o, "\"%s\":[", key);
	for (unsigned i = 0; i < n; i++)
		out(o, "%s%zu", i ? "," : "", v[i]);
	out(o, "]");
}

static void json_totals(struct out *o, const struct strata_stats *st, int leak_mode)
{
	out(o, "\"version\":\"%s\",\"api_version\":%u,\"pid\":%d,", PACKAGE_VERSION,
	    st->api_version, (int)getpid());
	out(o,
	    "\"totals\":{\"requested\":%zu,\"requested_kind\":\"%s\",\"allocated\":%zu,"
	    "\"cached\":%zu,\"active\":%zu,\"resident\":%zu,\"mapped\":%zu,\"metadata\":%zu,"
	    "\"memory_limit\":%zu,\"nmalloc\":%llu,\"nfree\":%llu},",
	    st->requested, requested_kind(st, leak_mode), st->allocated, st->cached, st->active,
	    st->resident, st->mapped, st->metadata, arena_memory_limit(),
	    (unsigned long long)st->nmalloc, (unsigned long long)st->nfree);
	out(o,
	    "\"fragmentation\":{\"internal\":%zu,\"slab_slack\":%zu,\"free\":%zu,\"dirty\":%zu,"
	    "\"resident_ratio\":%.4f,",
	    st->internal, st->slab_slack, st->free_bytes, st->dirty_bytes, st->resident_ratio);
	json_array_sizes(o, "buddyinfo", st->free_blocks, STRATA_ORDERS);
	out(o, ",\"unusable_index\":[");
	for (unsigned k = 0; k < STRATA_ORDERS; k++)
		out(o, "%s%.4f", k ? "," : "", st->unusable_index[k]);
	out(o,
	    "]},\"huge_pages\":{\"hugetlb_mapped\":%zu,\"hugetlb_resident\":%zu,\"thp_mapped\":%zu,"
	    "\"hugetlb_fallbacks\":%llu,\"reserved\":%zu}",
	    st->hugetlb_mapped, st->hugetlb_resident, st->thp_mapped,
	    (unsigned long long)st->hugetlb_fallbacks, st->reserved);
}

static void json_classes(struct out *o, const struct heap_snapshot *s)
{
	out(o, ",\"classes\":[");
	for (unsigned c = 0; c < NUM_CLASSES; c++) {
		struct strata_class_stats cs = { .struct_size = sizeof(cs) };
		stats_class_fill(s, c, &cs);
		out(o,
		    "%s{\"class\":%u,\"size\":%zu,\"live\":%zu,\"cached\":%zu,\"slabs\":%zu,"
		    "\"slab_bytes\":%zu,\"slack\":%zu,\"nmalloc\":%llu,\"nfree\":%llu}",
		    c ? "," : "", c, cs.size, cs.objects_live, cs.objects_cached, cs.slabs,
		    cs.slab_bytes, cs.slack_bytes, (unsigned long long)cs.nmalloc,
		    (unsigned long long)cs.nfree);
	}
	out(o, "]");
}

static void json_arenas(struct out *o)
{
	out(o, ",\"arenas\":[");
	for (unsigned i = 0; i < _strata_narenas; i++) {
		struct strata_arena_stats as = { .struct_size = sizeof(as) };
		stats_arena_fill(i, &as);
		out(o,
		    "%s{\"arena\":%u,\"node\":%d,\"regions\":%zu,\"mapped\":%zu,\"active\":%zu,"
		    "\"free\":%zu,\"dirty\":%zu,",
		    i ? "," : "", as.index, as.node, as.regions, as.mapped, as.active,
		    as.free_bytes, as.dirty_bytes);
		json_array_sizes(o, "buddyinfo", as.free_blocks, STRATA_ORDERS);
		out(o, "}");
	}
	out(o, "],\"nodes\":[");
	struct strata_node_stats all[NUMA_MAX_NODES];
	stats_nodes_fill(all);
	bool first = true;
	for (unsigned n = 0; n < NUMA_MAX_NODES; n++) {
		const struct strata_node_stats *ns = &all[n];
		if (ns->node < 0)
			continue;
		out(o,
		    "%s{\"node\":%d,\"cpus\":%u,\"arenas\":%u,\"mapped\":%zu,\"active\":%zu,"
		    "\"resident\":%zu,\"frees_local\":%llu,\"frees_remote\":%llu}",
		    first ? "" : ",", ns->node, ns->ncpus, ns->narenas, ns->mapped, ns->active,
		    ns->resident, (unsigned long long)ns->frees_local,
		    (unsigned long long)ns->frees_remote);
		first = false;
	}
	out(o, "]");
}

/* A frame as "function+0xoff (module+0xoff)", for JSON: a name or path
 * with a quote or backslash is left out rather than escaped. */
static void json_frame(struct out *o, void *addr)
{
	Dl_info info;
	memset(&info, 0, sizeof(info));
	out(o, "{\"address\":\"%p\"", addr);
	if (dladdr(addr, &info) && info.dli_fname && !strpbrk(info.dli_fname, "\"\\")) {
		out(o, ",\"module\":\"%s\",\"offset\":\"0x%lx\"", info.dli_fname,
		    (unsigned long)((char *)addr - (char *)info.dli_fbase));
		if (info.dli_sname && !strpbrk(info.dli_sname, "\"\\"))
			out(o, ",\"function\":\"%s\",\"function_offset\":\"0x%lx\"", info.dli_sname,
			    (unsigned long)((char *)addr - (char *)info.dli_saddr));
	}
	out(o, "}");
}

#define REPORT_MAX_SITES 32

/* Sites as a JSON array: bytes, objects and each frame (json_frame). */
static void json_sites(struct out *o, const struct strata_leak_site *sites, size_t n)
{
	out(o, "[");
	for (size_t i = 0; i < n; i++) {
		out(o, "%s{\"bytes\":%zu,\"objects\":%zu,\"frames\":[", i ? "," : "",
		    sites[i].bytes, sites[i].objects);
		for (unsigned f = 0; f < sites[i].nframes; f++) {
			if (f)
				out(o, ",");
			json_frame(o, sites[i].frames[f]);
		}
		out(o, "]}");
	}
	out(o, "]");
}

/* The leak totals and the biggest max_sites sites (at most
 * REPORT_MAX_SITES). */
static void json_leaks(struct out *o, int leak_mode, size_t max_sites)
{
	struct strata_leak_site sites[REPORT_MAX_SITES];
	size_t                  total_bytes = 0, total_objects = 0, n = 0;
	if (leak_mode != LEAK_OFF)
		n = leak_sites(sites, REPORT_MAX_SITES, 0, &total_bytes, &total_objects);
	out(o,
	    ",\"leaks\":{\"mode\":\"%s\",\"bytes\":%zu,\"objects\":%zu,\"sites_total\":%zu,"
	    "\"sites\":",
	    leak_mode_name(leak_mode), total_bytes, total_objects, n);
	json_sites(o, sites, MIN(n, MIN(max_sites, (size_t)REPORT_MAX_SITES)));
	out(o, "}");
}

/* ------------------------------------------------------------------------
 * Prometheus text exposition format
 * ---------------------------------------------------------------------- */
static void prom_head(struct out *o, const char *name, const char *type, const char *help)
{
	out(o, "# HELP strata_%s %s\n# TYPE strata_%s %s\n", name, help, name, type);
}

static void prom_gauge(struct out *o, const char *name, const char *help, size_t v)
{
	prom_head(o, name, "gauge", help);
	out(o, "strata_%s %zu\n", name, v);
}

static void prom_totals(struct out *o, const struct strata_stats *st)
{
	prom_gauge(o, "requested_bytes", "Bytes requested by live blocks (0 when unknown).",
	           st->requested);
	prom_gauge(o, "allocated_bytes", "Bytes of live blocks, rounded to their size class.",
	           st->allocated);
	prom_gauge(o, "cached_bytes", "Bytes of free blocks held in heaps' lists and caches.",
	           st->cached);
	prom_gauge(o, "active_bytes", "Bytes of pages holding slabs, large runs and huge blocks.",
	           st->active);
	prom_gauge(o, "resident_bytes", "Bytes of strata's mappings resident in memory.",
	           st->resident);
	prom_gauge(o, "mapped_bytes", "Bytes of address space mapped by strata.", st->mapped);
	prom_gauge(o, "metadata_bytes", "Bytes of strata's own bookkeeping.", st->metadata);
	prom_gauge(o, "memory_limit_bytes",
	           "Bytes the process may use, as the decay sees them (0: no limit).",
	           arena_memory_limit());
	prom_head(o, "mallocs_total", "counter", "Calls that returned a block.");
	out(o, "strata_mallocs_total %llu\n", (unsigned long long)st->nmalloc);
	prom_head(o, "frees_total", "counter", "Calls that freed a block.");
	out(o, "strata_frees_total %llu\n", (unsigned long long)st->nfree);
	prom_gauge(o, "internal_fragmentation_bytes", "Allocated minus requested bytes.",
	           st->internal);
	prom_gauge(o, "slab_slack_bytes", "Bytes of free slots inside slabs.", st->slab_slack);
	prom_gauge(o, "free_bytes", "Bytes in free buddy blocks.", st->free_bytes);
	prom_gauge(o, "dirty_bytes", "Bytes of free buddy blocks that may be resident.",
	           st->dirty_bytes);
	prom_head(o, "resident_ratio", "gauge",
	          "Resident bytes per requested (or allocated) byte.");
	out(o, "strata_resident_ratio %.4f\n", st->resident_ratio);
	prom_head(o, "buddy_free_blocks", "gauge", "Free buddy blocks per order (4 KiB << order).");
	for (unsigned k = 0; k < STRATA_ORDERS; k++)
		out(o, "strata_buddy_free_blocks{order=\"%u\"} %zu\n", k, st->free_blocks[k]);
	prom_head(o, "unusable_free_index", "gauge",
	          "Share of free memory unusable for a block of this order.");
	for (unsigned k = 0; k < STRATA_ORDERS; k++)
		out(o, "strata_unusable_free_index{order=\"%u\"} %.4f\n", k, st->unusable_index[k]);
	prom_gauge(o, "hugetlb_mapped_bytes", "Bytes of regions on MAP_HUGETLB pages.",
	           st->hugetlb_mapped);
	prom_gauge(o, "hugetlb_resident_bytes", "Of those, bytes in huge pages faulted in.",
	           st->hugetlb_resident);
	prom_gauge(o, "thp_mapped_bytes", "Bytes of regions advised MADV_HUGEPAGE.",
	           st->thp_mapped);
	prom_head(o, "hugetlb_fallbacks_total", "counter",
	          "Regions that asked for hugetlb pages and got others.");
	out(o, "strata_hugetlb_fallbacks_total %llu\n", (unsigned long long)st->hugetlb_fallbacks);
	prom_gauge(o, "reserved_bytes", "Bytes mapped and faulted in at start (STRATA_RESERVE).",
	           st->reserved);
}

static void prom_classes(struct out *o, const struct heap_snapshot *s)
{
	static const char *const names[] = { "class_live_objects", "class_cached_objects",
		                             "class_slabs", "class_mallocs_total",
		                             "class_frees_total" };
	static const char *const helps[] = { "Live objects per size class.",
		                             "Free objects on heaps' lists per size class.",
		                             "Slabs per size class.",
		                             "Calls that returned an object of this class.",
		                             "Calls that freed an object of this class." };
	for (unsigned m = 0; m < 5; m++) {
		prom_head(o, names[m], m >= 3 ? "counter" : "gauge", helps[m]);
		for (unsigned c = 0; c < NUM_CLASSES; c++) {
			struct strata_class_stats cs = { .struct_size = sizeof(cs) };
			stats_class_fill(s, c, &cs);
			unsigned long long v = m == 0   ? cs.objects_live
			                       : m == 1 ? cs.objects_cached
			                       : m == 2 ? cs.slabs
			                       : m == 3 ? cs.nmalloc
			                                : cs.nfree;
			out(o, "strata_%s{class=\"%u\",size=\"%zu\"} %llu\n", names[m], c, cs.size,
			    v);
		}
	}
}

static void prom_arenas(struct out *o)
{
	static const char *const names[] = { "arena_mapped_bytes", "arena_active_bytes",
		                             "arena_free_bytes", "arena_dirty_bytes" };
	for (unsigned m = 0; m < 4; m++) {
		prom_head(o, names[m], "gauge", "Per arena; see strata(3).");
		for (unsigned i = 0; i < _strata_narenas; i++) {
			struct strata_arena_stats as = { .struct_size = sizeof(as) };
			stats_arena_fill(i, &as);
			size_t v = m == 0   ? as.mapped
			           : m == 1 ? as.active
			           : m == 2 ? as.free_bytes
			                    : as.dirty_bytes;
			out(o, "strata_%s{arena=\"%u\",node=\"%d\"} %zu\n", names[m], i, as.node,
			    v);
		}
	}
}

static void prom_nodes(struct out *o)
{
	static const char *const names[] = { "node_resident_bytes", "node_mapped_bytes",
		                             "node_frees_total" };
	static const char *const helps[] = {
		"Bytes of strata's pages resident on the node.",
		"Bytes mapped by the arenas bound to the node.",
		"Objects of the node's arenas freed, by where the freeing thread ran."
	};
	struct strata_node_stats all[NUMA_MAX_NODES];
	stats_nodes_fill(all);
	for (unsigned m = 0; m < 3; m++) {
		prom_head(o, names[m], m == 2 ? "counter" : "gauge", helps[m]);
		for (unsigned n = 0; n < NUMA_MAX_NODES; n++) {
			const struct strata_node_stats *ns = &all[n];
			if (ns->node < 0)
				continue;
			if (m == 0)
				out(o, "strata_%s{node=\"%d\"} %zu\n", names[m], ns->node,
				    ns->resident);
			else if (m == 1)
				out(o, "strata_%s{node=\"%d\"} %zu\n", names[m], ns->node,
				    ns->mapped);
			else
				out(o,
				    "strata_%s{node=\"%d\",thread=\"local\"} %llu\n"
				    "strata_%s{node=\"%d\",thread=\"remote\"} %llu\n",
				    names[m], ns->node, (unsigned long long)ns->frees_local,
				    names[m], ns->node, (unsigned long long)ns->frees_remote);
		}
	}
}

static void prom_leaks(struct out *o, int leak_mode)
{
	size_t bytes = 0, objects = 0;
	if (leak_mode != LEAK_OFF)
		leak_sites(NULL, 0, 0, &bytes, &objects);
	prom_gauge(o, "leak_live_bytes",
	           "Live bytes recorded by leak tracking (estimate when sampled).", bytes);
	prom_gauge(o, "leak_live_objects",
	           "Live blocks recorded by leak tracking (estimate when sampled).", objects);
}

/* ------------------------------------------------------------------------
 * Object caches, pools and private heaps: one row each, by kind and name
 * ---------------------------------------------------------------------- */
enum pools_form { POOLS_TEXT, POOLS_TEXT_SITES, POOLS_JSON, POOLS_PROM };

/* The call sites shown for one cache, pool or heap's live objects. */
#define POOL_SITES_MAX 3

struct pool_sites {
	struct strata_leak_site site[POOL_SITES_MAX];
	size_t                  n;       /* sites, all of them */
	size_t                  bytes;   /* live bytes recorded */
	size_t                  objects; /* live objects recorded */
};

struct pools_out {
	struct out     *o;
	enum pools_form form;
	unsigned        metric; /* POOLS_PROM: the metric being written */
	unsigned        rows;
};

/* What the reports show of a cache, pool or heap: the Prometheus name
 * (counters end in _total), the JSON key, the help line. */
static const struct pool_metric {
	const char *name;
	const char *key;
	bool        counter;
	const char *help;
	size_t      offset;
} pool_metrics[] = {
#define POOL_METRIC(name, key, counter, help, field)                                 \
	{                                                                            \
		name, key, counter, help, offsetof(struct strata_cache_stats, field) \
	}
	POOL_METRIC("object_live", "live", false,
	            "Objects (blocks) in use, per cache, pool or private heap.", live),
	POOL_METRIC("object_live_bytes", "live_bytes", false, "Bytes of the objects in use.",
	            live_bytes),
	POOL_METRIC("object_total", "total", false, "Objects the slabs hold.", total),
	POOL_METRIC("object_slabs", "slabs", false, "Slabs.", slabs),
	POOL_METRIC("object_slab_bytes", "slab_bytes", false, "Bytes of the slabs.", slab_bytes),
	POOL_METRIC("object_slack_bytes", "slack_bytes", false,
	            "Slab bytes not holding live objects.", slack),
	POOL_METRIC("object_mallocs_total", "mallocs", true, "Allocations, ever.", mallocs),
	POOL_METRIC("object_frees_total", "frees", true, "Frees, ever.", frees),
	POOL_METRIC("object_reserve", "reserve", false, "Objects a pool holds in reserve.",
	            reserve),
	POOL_METRIC("object_reserve_served_total", "reserve_served", true,
	            "Allocations a pool's reserve served when memory was refused.", reserve_served),
#undef POOL_METRIC
};
#define POOL_METRICS (sizeof(pool_metrics) / sizeof(pool_metrics[0]))

static uint64_t pool_metric(const struct strata_cache_stats *st, unsigned m)
{
	return *(const uint64_t *)((const char *)st + pool_metrics[m].offset);
}

/* A name as it may stand between quotes in JSON and Prometheus. */
static void name_quoted(char *dst, const char *src)
{
	size_t i = 0;
	for (; src[i] && i < CACHE_NAME_MAX - 1; i++)
		dst[i] = src[i] == '"' || src[i] == '\\' || (unsigned char)src[i] < 0x20 ? '_'
		                                                                         : src[i];
	dst[i] = '\0';
}

/* A frame as people read it: function+offset, else module+offset. */
static void text_frame(struct out *o, void *addr)
{
	Dl_info info;
	memset(&info, 0, sizeof(info));
	if (dladdr(addr, &info) && info.dli_sname)
		out(o, "%s+0x%lx", info.dli_sname,
		    (unsigned long)((char *)addr - (char *)info.dli_saddr));
	else if (info.dli_fname)
		out(o, "%s+0x%lx", info.dli_fname,
		    (unsigned long)((char *)addr - (char *)info.dli_fbase));
	else
		out(o, "%p", addr);
}

/* Under the table: each cache's live objects by call site (the first
 * frames of each), when leak tracking recorded them. */
static void pools_row_sites(struct out *o, const char *kind, const char *name,
                            const struct pool_sites *ps)
{
	if (ps->n == 0)
		return;
	out(o, "  %s %s: %zu bytes in %zu objects from %zu site%s\n", kind, name, ps->bytes,
	    ps->objects, ps->n, ps->n == 1 ? "" : "s");
	for (size_t i = 0; i < MIN(ps->n, (size_t)POOL_SITES_MAX); i++) {
		const struct strata_leak_site *site = &ps->site[i];
		out(o, "    %zu bytes in %zu objects:", site->bytes, site->objects);
		for (unsigned f = 0; f < MIN(site->nframes, 3u); f++) {
			out(o, f ? " < " : " ");
			text_frame(o, site->frames[f]);
		}
		out(o, "\n");
	}
}

static void json_row_sites(struct out *o, const struct pool_sites *ps)
{
	out(o, ", \"sites_total\": %zu, \"sites\": ", ps->n);
	json_sites(o, ps->site, MIN(ps->n, (size_t)POOL_SITES_MAX));
}

static void pools_row(struct pools_out *po, const char *kind, const struct strata_cache_stats *st,
                      const struct pool_sites *ps)
{
	char name[CACHE_NAME_MAX];
	name_quoted(name, st->name);
	struct out *o = po->o;
	switch (po->form) {
	case POOLS_TEXT:
		out(o, "  %-5s %-24s %8zu %10llu %10llu %7llu %12llu %12llu %12llu %7llu %7llu\n",
		    kind, st->name, st->object_size, (unsigned long long)st->live,
		    (unsigned long long)st->total, (unsigned long long)st->slabs,
		    (unsigned long long)st->slack, (unsigned long long)st->mallocs,
		    (unsigned long long)st->frees, (unsigned long long)st->reserve,
		    (unsigned long long)st->reserve_served);
		break;
	case POOLS_TEXT_SITES: pools_row_sites(o, kind, st->name, ps); break;
	case POOLS_JSON:
		out(o,
		    "%s{\"kind\": \"%s\", \"name\": \"%s\", \"object_size\": %zu, "
		    "\"stride\": %zu",
		    po->rows ? ", " : "", kind, name, st->object_size, st->stride);
		for (unsigned m = 0; m < POOL_METRICS; m++)
			out(o, ", \"%s\": %llu", pool_metrics[m].key,
			    (unsigned long long)pool_metric(st, m));
		out(o, ", \"reserve_min\": %llu, \"resets\": %llu",
		    (unsigned long long)st->reserve_min, (unsigned long long)st->resets);
		json_row_sites(o, ps);
		out(o, "}");
		break;
	case POOLS_PROM:
		out(o, "strata_%s{%s=\"%s\"} %llu\n", pool_metrics[po->metric].name, kind, name,
		    (unsigned long long)pool_metric(st, po->metric));
		break;
	}
	po->rows++;
}

/* The sites of a row, where the form shows them and leak tracking is on
 * (estimates in the sampled mode, as the leak report's). */
static bool pools_sites_wanted(const struct pools_out *po, const struct strata_cache_stats *st)
{
	return (po->form == POOLS_TEXT_SITES || po->form == POOLS_JSON) && st->live > 0
	       && leak_mode() != LEAK_OFF;
}

static void pools_cache(struct cache *c, void *arg)
{
	struct pools_out *po = arg;
	if (c->kind == CACHE_ZONE)
		return; /* a private heap's: in its heap's row */
	struct strata_cache_stats st = { .struct_size = sizeof(st) };
	struct pool_sites         ps = { .n = 0 };
	cache_stats_fill(c, &st);
	if (pools_sites_wanted(po, &st))
		ps.n = cache_leak_sites(c, ps.site, POOL_SITES_MAX, &ps.bytes, &ps.objects);
	pools_row(po, c->kind == CACHE_POOL ? "pool" : "cache", &st, &ps);
}

static void pools_zone(struct zone *z, void *arg)
{
	struct pools_out         *po = arg;
	struct strata_cache_stats st = { .struct_size = sizeof(st) };
	struct pool_sites         ps = { .n = 0 };
	zone_figures(z, &st);
	if (pools_sites_wanted(po, &st))
		ps.n = zone_leak_sites(z, ps.site, POOL_SITES_MAX, &ps.bytes, &ps.objects);
	pools_row(po, "heap", &st, &ps);
}

static void pools_rows(struct pools_out *po)
{
	cache_for_each(pools_cache, po);
	zone_for_each(pools_zone, po);
}

static void text_pools(struct out *o)
{
	struct pools_out po = { .o = o, .form = POOLS_TEXT };
	out(o, "object caches, pools and private heaps\n");
	out(o, "  %-5s %-24s %8s %10s %10s %7s %12s %12s %12s %7s %7s\n", "kind", "name", "objsize",
	    "live", "total", "slabs", "slack bytes", "mallocs", "frees", "reserve", "served");
	pools_rows(&po);
	if (po.rows == 0) {
		out(o, "  (none)\n");
		return;
	}
	if (leak_mode() != LEAK_OFF) {
		out(o, "live objects by call site%s\n",
		    leak_mode() == LEAK_FULL ? "" : " (sampled: estimates)");
		po.form = POOLS_TEXT_SITES;
		pools_rows(&po);
	}
}

static void json_pools(struct out *o)
{
	struct pools_out po = { .o = o, .form = POOLS_JSON };
	out(o, ", \"caches\": [");
	pools_rows(&po);
	out(o, "]");
}

static void prom_pools(struct out *o)
{
	struct pools_out po = { .o = o, .form = POOLS_PROM };
	for (po.metric = 0; po.metric < POOL_METRICS; po.metric++) {
		prom_head(o, pool_metrics[po.metric].name,
		          pool_metrics[po.metric].counter ? "counter" : "gauge",
		          pool_metrics[po.metric].help);
		pools_rows(&po);
	}
}

/* ------------------------------------------------------------------------
 * Entry points
 * ---------------------------------------------------------------------- */

/* The keys of the JSON report, without its braces: the report's and a
 * trace sample's. */
static void json_body(struct out *o, const struct heap_snapshot *s, const struct strata_stats *st,
                      unsigned what, size_t max_sites)
{
	json_totals(o, st, s->leak_mode);
	if (what & STRATA_REPORT_CLASSES) {
		json_classes(o, s);
		json_pools(o);
	}
	if (what & STRATA_REPORT_ARENAS)
		json_arenas(o);
	if (what & STRATA_REPORT_LEAKS)
		json_leaks(o, s->leak_mode, max_sites);
}

int report_write(int fd, enum strata_format format, unsigned what)
{
	struct out           o = { .fd = fd };
	struct heap_snapshot s;
	struct strata_stats  st = { .struct_size = sizeof(st) };
	stats_snapshot(&s);
	stats_fill(&s, &st);
	switch (format) {
	case STRATA_FORMAT_TEXT:
		text_totals(&o, &st, s.leak_mode);
		if (what & STRATA_REPORT_CLASSES) {
			text_classes(&o, &s);
			text_pools(&o);
		}
		if (what & STRATA_REPORT_ARENAS) {
			text_arenas(&o);
			text_nodes(&o);
		}
		out_flush(&o);
		if ((what & STRATA_REPORT_LEAKS) && s.leak_mode != LEAK_OFF)
			leak_report(fd, 0, REPORT_MAX_SITES, s.leak_mode != LEAK_FULL);
		break;
	case STRATA_FORMAT_JSON:
		out(&o, "{");
		json_body(&o, &s, &st, what, REPORT_MAX_SITES);
		out(&o, "}\n");
		break;
	case STRATA_FORMAT_PROMETHEUS:
		prom_totals(&o, &st);
		if (what & STRATA_REPORT_CLASSES) {
			prom_classes(&o, &s);
			prom_pools(&o);
		}
		if (what & STRATA_REPORT_ARENAS) {
			prom_arenas(&o);
			prom_nodes(&o);
		}
		if (what & STRATA_REPORT_LEAKS)
			prom_leaks(&o, s.leak_mode);
		break;
	default: errno = EINVAL; return -1;
	}
	out_flush(&o);
	if (o.failed)
		return -1;
	return 0;
}

strata_export int strata_report(int fd, enum strata_format format, unsigned what)
{
	return report_write(fd, format, what);
}

/* Write to path.tmp, then rename it over path, so a reader (a scraper)
 * never sees half a file. */
strata_export int strata_report_file(const char *path, enum strata_format format, unsigned what)
{
	char tmp[4096];
	if (path == NULL
	    || snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		errno = EINVAL;
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int rc = report_write(fd, format, what);
	if (close(fd) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* ------------------------------------------------------------------------
 * glibc's printing calls, with strata's figures
 * ---------------------------------------------------------------------- */
strata_export void API(malloc_stats)(void)
{
	report_write(2, STRATA_FORMAT_TEXT, 0);
}

/* glibc's XML shape, with strata's figures. */
strata_export int API(malloc_info)(int options, FILE *fp)
{
	if (options != 0 || fp == NULL) {
		errno = EINVAL;
		return -1;
	}
	struct heap_snapshot s;
	struct strata_stats  st = { .struct_size = sizeof(st) };
	stats_snapshot(&s);
	stats_fill(&s, &st);
	fprintf(fp, "<malloc version=\"strata-%s\">\n", PACKAGE_VERSION);
	for (unsigned k = 0; k < BUDDY_ORDERS; k++)
		fprintf(fp, "<size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
		        PAGE_SIZE << k, PAGE_SIZE << k, s.free_blocks[k] * (PAGE_SIZE << k),
		        s.free_blocks[k]);
	fprintf(fp,
	        "<total type=\"fast\" count=\"0\" size=\"%zu\"/>\n"
	        "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n"
	        "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
	        "<system type=\"current\" size=\"%zu\"/>\n"
	        "<system type=\"max\" size=\"%zu\"/>\n"
	        "<aspace type=\"total\" size=\"%zu\"/>\n"
	        "<aspace type=\"mprotect\" size=\"%zu\"/>\n"
	        "</malloc>\n",
	        st.cached, st.free_bytes + st.slab_slack, s.huge_count, s.huge_mapped, st.mapped,
	        st.mapped, st.mapped, st.mapped);
	return 0;
}

/* ------------------------------------------------------------------------
 * Reports strata writes on its own: at exit, and to the stats file
 * ---------------------------------------------------------------------- */
static int report_fd = STDERR_FILENO;
#define REPORT_FD_MIN 100 /* out of the way of the program's own fds */

/* Fill out with path, "%p" replaced by the process id, so that several
 * processes (children inherit the environment) write files of their own. */
static const char *expand_path(const char *path, char *out, size_t n)
{
	size_t len = 0;
	for (const char *c = path; *c && len + 24 < n; c++) {
		if (c[0] == '%' && c[1] == 'p') {
			len += (size_t)snprintf(out + len, n - len, "%d", (int)getpid());
			c++;
		} else {
			out[len++] = *c;
		}
	}
	out[len] = '\0';
	return out;
}

/* The exit report goes to a copy of stderr taken at start-up: programs
 * such as coreutils close stderr in an atexit handler, before strata's
 * destructor runs. */
void report_init(void)
{
	if (strata_option(OPT_REPORT) > 0 || strata_option(OPT_VERBOSE) > 0) {
		int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, REPORT_FD_MIN);
		if (fd >= 0)
			report_fd = fd;
	}
}

static const enum strata_format report_formats[] = {
	STRATA_FORMAT_TEXT,
	STRATA_FORMAT_TEXT,
	STRATA_FORMAT_JSON,
	STRATA_FORMAT_PROMETHEUS,
};

/* STRATA_PROFILE_FILE: the live blocks for pprof.  With leak tracking off
 * the profile is empty, which the warning explains. */
static void profile_at_exit(void)
{
	const char *file = strata_option_path(OPT_PROFILE_FILE);
	char        path[OPTION_PATH_MAX + 32];
	if (file == NULL)
		return;
	if (leak_mode() == LEAK_OFF)
		_strata_warn("leak tracking is off: the heap profile is empty");
	expand_path(file, path, sizeof(path));
	if (profile_write_file(path) != 0)
		_strata_warn("cannot write the heap profile to %s", path);
}

/* STRATA_REPORT=text|json|prometheus: the whole report on stderr at exit;
 * STRATA_VERBOSE=1 alone: the totals.  Then STRATA_PROFILE_FILE. */
void report_at_exit(void)
{
	long        report = strata_option(OPT_REPORT);
	const char *file = strata_option_path(OPT_REPORT_FILE);
	char        path[OPTION_PATH_MAX + 32];
	if (report > 0 && file) {
		expand_path(file, path, sizeof(path));
		if (strata_report_file(path, report_formats[report], STRATA_REPORT_ALL) != 0)
			_strata_warn("cannot write the report to %s", path);
	} else if (report > 0) {
		report_write(report_fd, report_formats[report], STRATA_REPORT_ALL);
	} else if (strata_option(OPT_VERBOSE) > 0) {
		report_write(report_fd, STRATA_FORMAT_TEXT, 0);
	}
	profile_at_exit();
}

/* ------------------------------------------------------------------------
 * The trace file: a JSON sample of the heap appended every stats_interval
 * ---------------------------------------------------------------------- */

/* What bounds a sample: the biggest leak sites (the plot follows a few),
 * the regions of the heap map (2 GiB of them: each costs a walk of its
 * page descriptors under its arena's lock) and the cells each is drawn
 * with (32 pages, 128 KiB, a cell: 256 bytes a region whatever its
 * shape, where its runs may take 100 KiB). */
#define TRACE_SITES       8
#define TRACE_MAP_REGIONS 64
#define TRACE_MAP_CELLS   256

/* One line: the time (seconds since the epoch), the kernel's RSS, the
 * JSON report's keys (every section, TRACE_SITES leak sites) and the heap
 * map in cells.  Written in pieces with O_APPEND: a reader may see the
 * last line unfinished. */
static int trace_sample(int fd)
{
	struct out           o = { .fd = fd };
	struct heap_snapshot s;
	struct strata_stats  st = { .struct_size = sizeof(st) };
	struct timespec      now;
	clock_gettime(CLOCK_REALTIME, &now);
	stats_snapshot(&s);
	stats_fill(&s, &st);
	out(&o, "{\"time\":%lld.%03ld,\"interval\":%ld,\"rss\":%zu,", (long long)now.tv_sec,
	    now.tv_nsec / 1000000, strata_option(OPT_STATS_INTERVAL), os_rss());
	json_body(&o, &s, &st, STRATA_REPORT_ALL, TRACE_SITES);
	out(&o, ",\"heapmap\":");
	out_flush(&o);
	if (!o.failed && heapmap_write(fd, TRACE_MAP_REGIONS, TRACE_MAP_CELLS) != 0)
		o.failed = 1;
	out(&o, "}\n");
	out_flush(&o);
	return o.failed ? -1 : 0;
}

static int trace_append(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int rc = trace_sample(fd);
	if (close(fd) != 0)
		rc = -1;
	return rc;
}

/* The file of a path option, %p expanded; NULL if it is not set. */
static const char *option_file(enum option_id id, char *buf, size_t n)
{
	const char *path = strata_option_path(id);
	return path ? expand_path(path, buf, n) : NULL;
}

/* The stats file rewritten and a trace sample appended, every interval.
 * A trace that cannot be written is said once: it is a file of samples,
 * one missing is no news. */
static void *stats_file_loop(void *arg)
{
	(void)arg;
	char            stats_buf[OPTION_PATH_MAX + 32], trace_buf[OPTION_PATH_MAX + 32];
	const char     *stats = option_file(OPT_STATS_FILE, stats_buf, sizeof(stats_buf));
	const char     *trace = option_file(OPT_TRACE_FILE, trace_buf, sizeof(trace_buf));
	struct timespec ts = { .tv_sec = strata_option(OPT_STATS_INTERVAL) };
	bool            trace_warned = false;
	for (;;) {
		if (stats
		    && strata_report_file(stats, STRATA_FORMAT_PROMETHEUS, STRATA_REPORT_ALL) != 0)
			_strata_warn("cannot write stats file %s", stats);
		if (trace && trace_append(trace) != 0 && !trace_warned) {
			_strata_warn("cannot append to the trace file %s", trace);
			trace_warned = true;
		}
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* The writer of STRATA_STATS_FILE and STRATA_TRACE_FILE: a detached
 * thread, started once, from the first thread heap set up after start-up
 * (the heap layer's start hook; not from start-up itself, where creating
 * a thread could allocate before strata is ready). */
void report_stats_file_start(void)
{
	static int started;
	if (strata_option_path(OPT_STATS_FILE) != NULL
	    || strata_option_path(OPT_TRACE_FILE) != NULL)
		leak_thread_start_once(&started, stats_file_loop, "the stats and trace writer");
}
