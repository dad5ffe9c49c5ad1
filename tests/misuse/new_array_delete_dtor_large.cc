/* SPDX-License-Identifier: MIT */
/* misuse: new[] of 32768 16-byte objects with a destructor freed with delete, which frees the pointer past new[]'s count */
#include <cstdio>

#define SIZE (512 << 10)

struct obj {
	char b[16];
	~obj() {}
};

int main()
{
	/* new[] puts the element count in the 8 bytes before the
	 * array, so delete calls operator delete(p, 16) with p 8 bytes
	 * into the block that operator new[] returned. */
	obj *volatile p = new obj[SIZE / sizeof(obj)];
	delete p;
	std::puts("UNDETECTED");
	return 0;
}
