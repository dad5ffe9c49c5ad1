// SPDX-License-Identifier: MIT
/*
 * wl_cxx.cc - a C++ program's churn: the standard containers' nodes and
 * strings, and objects owned by smart pointers.
 *
 * Owns the "operator new and delete" measurement.  Each step does what a
 * C++ server does between two requests, at random keys: an insert into or
 * an erase from a std::map<long, std::string> (a node and, above 15
 * characters, a string buffer), the same on a std::unordered_map<std::string,
 * long> (its nodes and, as it grows, its bucket array), a polymorphic object
 * of one of two sizes made with make_unique into a vector that drops its
 * older half when full (virtual destructors: unsized delete; the rest go
 * through the sized one), and every 16th step a std::vector<int> grown by
 * push_back to a random length (a realloc-like series of news and
 * deletes).  The work is fixed and seeded, so wall time compares
 * allocators.
 */
#include "wl_common.h"

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

enum { OPT_STEPS, OPT_KEYS, OPT_COUNT };

static struct wl_opt opts[OPT_COUNT] = {
	{ "steps", 3000000, "steps (each a few news and deletes)" },
	{ "keys", 20000, "keys of each map" },
};

namespace
{

struct Shape {
	virtual ~Shape() = default;
	virtual long area() const = 0;
};

struct Square : Shape {
	long side;
	explicit Square(long s) : side(s) {}
	long area() const override { return side * side; }
};

struct Polygon : Shape {
	long xs[12];
	explicit Polygon(long s)
	{
		for (long &x : xs)
			x = s++;
	}
	long area() const override { return xs[0] + xs[11]; }
};

struct World {
	std::map<long, std::string>           names;
	std::unordered_map<std::string, long> ids;
	std::vector<std::unique_ptr<Shape>>   shapes;
	unsigned long                         checksum = 0;
};

void step(World &w, struct wl_rng *rng, long keys, long i)
{
	long key = wl_range(rng, 0, keys - 1);
	auto it = w.names.find(key);
	if (it != w.names.end()) {
		w.checksum += (long)it->second.size();
		w.names.erase(it);
	} else {
		w.names.emplace(key, std::string((size_t)wl_log_range(rng, 8, 200), 'n'));
	}

	std::string id = "id:" + std::to_string(wl_range(rng, 0, keys - 1));
	auto        jt = w.ids.find(id);
	if (jt != w.ids.end())
		w.ids.erase(jt);
	else
		w.ids.emplace(std::move(id), i);

	if (wl_range(rng, 0, 3) == 0)
		w.shapes.push_back(std::make_unique<Polygon>(i));
	else
		w.shapes.push_back(std::make_unique<Square>(i));
	if (w.shapes.size() >= 256) {
		for (const auto &s : w.shapes)
			w.checksum += (unsigned long)s->area();
		w.shapes.erase(w.shapes.begin(), w.shapes.begin() + 128);
	}

	if (i % 16 == 0) {
		std::vector<int> v;
		long             n = wl_log_range(rng, 1, 2000);
		for (long k = 0; k < n; k++)
			v.push_back((int)k);
		w.checksum += (unsigned long)v.back();
	}
}

} // namespace

int main(int argc, char **argv)
{
	wl_allocator();
	wl_parse(argc, argv, opts, OPT_COUNT);
	long steps = opts[OPT_STEPS].value, keys = opts[OPT_KEYS].value;
	if (steps < 1 || keys < 1) {
		wl_usage(argv[0], opts, OPT_COUNT);
		return 2;
	}
	struct wl_rng rng;
	wl_seed(&rng, 7);
	double        start = wl_now();
	unsigned long checksum;
	{
		World w;
		for (long i = 0; i < steps; i++)
			step(w, &rng, keys, i);
		checksum = w.checksum + w.names.size() + w.ids.size();
	}
	double secs = wl_now() - start;

	wl_begin("cxx");
	wl_put("steps", "%ld", steps);
	wl_put("secs", "%.3f", secs);
	wl_put("steps_per_s", "%.0f", (double)steps / secs);
	wl_put("checksum", "%lu", checksum);
	wl_put("peak_rss_kib", "%ld", wl_status_kib("VmHWM"));
	wl_end();
	return 0;
}
