/* SPDX-License-Identifier: MIT */
/* control: correct use; checks that the preloaded allocator is mapped, and gives each column's usual stderr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	/* The runner ignores whatever an allocator prints on this clean run
	 * (an option warning, say) when it looks for diagnostics. */
	char *volatile p = malloc(100);
	memset(p, 1, 100);
	p = realloc(p, 5000);
	free(p);

	const char *lib = getenv("LD_PRELOAD");
	if (lib == NULL || *lib == '\0') {
		puts("PASS no preload");
		return 0;
	}
	FILE *f = fopen("/proc/self/maps", "r");
	char  line[4096];
	int   found = 0;
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, lib))
			found = 1;
	if (f)
		fclose(f);
	printf("%s %s\n", found ? "PASS mapped" : "FAIL not mapped", lib);
	return !found;
}
