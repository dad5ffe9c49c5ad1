// SPDX-License-Identifier: MIT
// Run by test_debug with STRATA_DEBUG=1 and strata preloaded: a delete of
// another kind than the block's allocation (test_debug expects the abort),
// or "clean": every kind freed by its own delete, which must run clean.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

struct obj {
	char b[32];
};

struct big {
	char b[16384];
};

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "clean";
	if (!std::strcmp(mode, "malloc_delete")) {
		obj *volatile p = static_cast<obj *>(std::malloc(sizeof(obj)));
		delete p;
	} else if (!std::strcmp(mode, "malloc_delete_big")) {
		big *volatile p = static_cast<big *>(std::malloc(sizeof(big)));
		delete p;
	} else if (!std::strcmp(mode, "new_delete_array")) {
		obj *volatile p = new obj;
		delete[] p;
	} else if (!std::strcmp(mode, "new_array_delete")) {
		obj *volatile p = new obj[1];
		delete p;
	} else {
		std::vector<std::string> v;
		for (int i = 0; i < 10000; i++)
			v.push_back(std::string(static_cast<size_t>(i % 100), 'x'));
		obj *a = new obj[3];
		obj *o = new obj;
		big *b = new (std::nothrow) big;
		big *c = new big[2];
		delete[] a;
		delete o;
		delete b;
		delete[] c;
		void *m = std::malloc(100);
		std::free(m);
		return 0;
	}
	std::puts("UNDETECTED");
	return 0;
}
