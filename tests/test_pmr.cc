/* SPDX-License-Identifier: MIT */
// std::pmr containers over strata's private heaps and object caches
// (include/strata_pmr.hpp).
#include <cstdio>
#include <list>
#include <map>
#include <string>
#include <vector>

#include "strata_pmr.hpp"

static int failures;

static void expect(bool ok, const char *what)
{
	if (!ok) {
		std::fprintf(stderr, "test_pmr: FAILED: %s\n", what);
		failures++;
	}
}

static strata_cache_stats stats_of(strata_heap_t *h)
{
	strata_cache_stats st{};
	st.struct_size = sizeof(st);
	strata_heap_stats_get(h, &st);
	return st;
}

static strata_cache_stats stats_of(strata_cache_t *c)
{
	strata_cache_stats st{};
	st.struct_size = sizeof(st);
	strata_cache_stats_get(c, &st);
	return st;
}

int main()
{
	strata::heap_resource req("pmr-request");
	{
		std::pmr::vector<std::pmr::string> v(&req);
		for (int i = 0; i < 10000; i++)
			v.emplace_back(std::string(20 + i % 100, 'a' + i % 26));
		bool same = true;
		for (int i = 0; i < 10000; i++)
			same = same && v[i].size() == size_t(20 + i % 100)
			       && v[i][0] == char('a' + i % 26);
		expect(same, "strings in a heap_resource keep their contents");
		expect(stats_of(req.native_handle()).live > 1000,
		       "the strings' blocks are the heap's");
		std::pmr::map<int, std::pmr::string> m(&req);
		for (int i = 0; i < 1000; i++)
			m.emplace(i, std::pmr::string(50, 'x', &req));
		expect(m.size() == 1000 && m[500].size() == 50, "a map in a heap_resource");
	}
	req.release();
	expect(stats_of(req.native_handle()).live == 0, "release() frees every block");

	strata::cache_resource nodes("pmr-nodes", 64);
	{
		std::pmr::list<int> l(&nodes);
		for (int i = 0; i < 5000; i++)
			l.push_back(i);
		expect(stats_of(nodes.native_handle()).live == 5000,
		       "each list node is one cache object");
		long sum = 0;
		for (int x : l)
			sum += x;
		expect(sum == 5000L * 4999 / 2, "the list's contents");
		std::pmr::vector<int> big(1000, 7, &nodes); // too big for the cache: upstream
		expect(big[999] == 7, "a block too big for the cache comes from upstream");
		expect(stats_of(nodes.native_handle()).live == 5000, "... and not from the cache");
	}
	expect(stats_of(nodes.native_handle()).live == 0,
	       "the list's nodes went back to the cache");
	expect(strata_check_heap() == 0, "heap check");
	if (failures == 0)
		std::printf("test_pmr: ok\n");
	return failures ? 1 : 0;
}
