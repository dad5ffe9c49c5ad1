/* SPDX-License-Identifier: MIT */
/* Run by tests/hugepages.sh with strata preloaded: allocates a heap of
 * small and large blocks, touches it, and prints what strata's statistics
 * say about huge pages next to what the kernel says in /proc/self/smaps;
 * then frees everything and trims. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata.h"

/* Sum Private_Hugetlb and AnonHugePages, and the size of mappings whose
 * KernelPageSize is 2048 kB and 1 GiB, over /proc/self/smaps, in KiB. */
static size_t giga_vma_kib;

static void smaps(size_t *hugetlb_kib, size_t *anon_huge_kib, size_t *huge_vma_kib)
{
	FILE  *f = fopen("/proc/self/smaps", "r");
	char   line[512];
	size_t vma_kib = 0, v;
	*hugetlb_kib = *anon_huge_kib = *huge_vma_kib = giga_vma_kib = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Size: %zu kB", &v) == 1)
			vma_kib = v;
		else if (sscanf(line, "KernelPageSize: %zu kB", &v) == 1 && v == 2048)
			*huge_vma_kib += vma_kib;
		else if (sscanf(line, "KernelPageSize: %zu kB", &v) == 1 && v == 1048576)
			giga_vma_kib += vma_kib;
		else if (sscanf(line, "Private_Hugetlb: %zu kB", &v) == 1)
			*hugetlb_kib += v;
		else if (sscanf(line, "AnonHugePages: %zu kB", &v) == 1)
			*anon_huge_kib += v;
	}
	if (f)
		fclose(f);
}

static void report(const char *when)
{
	int (*get)(struct strata_stats *) = (int (*)(struct strata_stats *))dlsym(
	        RTLD_DEFAULT, "strata_stats_get");
	struct strata_stats st = { .struct_size = sizeof(st) };
	if (!get || get(&st) != 0) {
		fprintf(stderr, "strata_stats_get not found: is strata preloaded?\n");
		exit(2);
	}
	size_t hugetlb, anon, vma;
	smaps(&hugetlb, &anon, &vma);
	printf("%s hugetlb_mapped_kib=%zu hugetlb_resident_kib=%zu thp_mapped_kib=%zu "
	       "fallbacks=%llu"
	       " reserved_kib=%zu resident_kib=%zu smaps_hugetlb_kib=%zu smaps_huge_vma_kib=%zu"
	       " smaps_anon_huge_kib=%zu smaps_giga_vma_kib=%zu\n",
	       when, st.hugetlb_mapped >> 10, st.hugetlb_resident >> 10, st.thp_mapped >> 10,
	       (unsigned long long)st.hugetlb_fallbacks, st.reserved >> 10, st.resident >> 10,
	       hugetlb, vma, anon, giga_vma_kib);
	fflush(stdout);
}

/* One block of `bytes`, touched, reported, reallocated larger, freed. */
static void one_block(size_t bytes)
{
	char *p = malloc(bytes);
	if (!p) {
		fprintf(stderr, "malloc(%zu) failed\n", bytes);
		exit(1);
	}
	memset(p, 7, bytes);
	report("block");
	p = realloc(p, bytes + (4 << 20));
	if (!p || p[bytes - 1] != 7) {
		fprintf(stderr, "realloc lost the block\n");
		exit(1);
	}
	free(p);
	report("freed");
}

/* A parent fills blocks from hugetlb memory and forks; the child writes
 * every block and allocates: it must not die of SIGBUS when the parent
 * holds the whole pool.  Prints the child's wait status. */
static int fork_and_write(void)
{
	enum { N = 1000, SIZE = 1000 };
	static char *blocks[N];
	for (int i = 0; i < N; i++) {
		blocks[i] = malloc(SIZE);
		memset(blocks[i], 1, SIZE);
	}
	size_t big_size = (8 << 20) - 4096; /* a huge block: 4 pages with its header */
	char  *big = malloc(big_size);
	memset(big, 1, big_size);
	enum { NFILL = 160 }; /* 40 MiB more: the parent holds all the pool can give */
	static char *fill[NFILL];
	for (int i = 0; i < NFILL; i++) {
		fill[i] = malloc(256 << 10);
		memset(fill[i], 1, 256 << 10);
	}
	report("parent");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < N; i++)
			memset(blocks[i], 2, SIZE);
		memset(big, 2, big_size);
		for (int i = 0; i < NFILL; i++)
			memset(fill[i], 2, 256 << 10);
		for (int i = 0; i < N; i++) {
			char *p = malloc(SIZE);
			memset(p, 3, SIZE);
			free(blocks[i]);
			blocks[i] = p;
		}
		report("child");
		_exit(blocks[N - 1][SIZE - 1] == 3 ? 0 : 3);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	for (int i = 0; i < N; i++)
		if (blocks[i][0] != 1)
			return 4; /* the child's writes reached the parent */
	if (big[big_size - 1] != 1)
		return 4;
	memset(big, 5, big_size); /* the parent writes its own after the fork */
	printf("fork status=%d\n", status);
	return 0;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 48;
	if (argc > 2 && strcmp(argv[2], "fork") == 0)
		return fork_and_write();
	if (argc > 2) {                        /* huge block: hugepage_child MIB block */
		one_block((mib << 20) - 4096); /* the header page makes it whole MiB */
		return 0;
	}
	report("start");
	enum { SMALL = 100000 };
	size_t nlarge = mib * 2; /* 512 KiB each: half the heap */
	char **small = malloc(SMALL * sizeof(char *));
	char **large = malloc(nlarge * sizeof(char *));
	for (size_t i = 0; i < SMALL; i++) {
		small[i] = malloc(mib * 5); /* ~ mib/2 MiB in all */
		memset(small[i], 1, mib * 5);
	}
	for (size_t i = 0; i < nlarge / 2; i++) {
		large[i] = malloc(512 << 10);
		memset(large[i], 2, 512 << 10);
	}
	report("full");
	for (size_t i = 0; i < SMALL; i++)
		free(small[i]);
	for (size_t i = 0; i < nlarge / 2; i++)
		free(large[i]);
	size_t (*trim)(void) = (size_t(*)(void))dlsym(RTLD_DEFAULT, "strata_trim");
	if (trim)
		trim();
	report("freed");
	free(small);
	free(large);
	return 0;
}
