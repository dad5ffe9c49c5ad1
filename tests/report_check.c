/* SPDX-License-Identifier: MIT */
/* Writes the report in each format next to the API's figures taken at the
 * same moment (writing a report does not allocate), for tests/report.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: report_check PROM_FILE JSON_FILE\n");
		return 2;
	}
	static void *keep[5000];
	for (int i = 0; i < 5000; i++)
		keep[i] = malloc((size_t)(i % 700) + 1);
	for (int i = 0; i < 5000; i += 3)
		free(keep[i]);
	void *big = malloc(10 << 20);
	memset(big, 1, 1 << 20);

	struct strata_stats st = { .struct_size = sizeof(st) };
	if (strata_stats_get(&st) != 0)
		return 1;
	if (strata_report_file(argv[1], STRATA_FORMAT_PROMETHEUS, STRATA_REPORT_ALL) != 0)
		return 1;
	if (strata_report_file(argv[2], STRATA_FORMAT_JSON, STRATA_REPORT_ALL) != 0)
		return 1;
	printf("allocated_bytes %zu\nrequested_bytes %zu\nmapped_bytes %zu\ncached_bytes %zu\n"
	       "mallocs_total %llu\nfrees_total %llu\nfree_bytes %zu\nslab_slack_bytes %zu\n",
	       st.allocated, st.requested, st.mapped, st.cached, (unsigned long long)st.nmalloc,
	       (unsigned long long)st.nfree, st.free_bytes, st.slab_slack);
	free(big);
	return 0;
}
