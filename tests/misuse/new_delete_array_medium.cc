/* SPDX-License-Identifier: MIT */
/* misuse: a 16 KiB object from new freed with delete[] */
#include <cstdio>

#define SIZE (16 << 10)

struct obj {
	char b[SIZE];
};

int main()
{
	/* obj has no destructor, so delete[] reads no count: it calls
	 * the unsized operator delete[](p) on new's block. */
	obj *volatile p = new obj;
	delete[] p;
	std::puts("UNDETECTED");
	return 0;
}
