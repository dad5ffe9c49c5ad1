/* SPDX-License-Identifier: MIT */
/* misuse: sized operator delete with the wrong size: operator new(16 KiB), operator delete(p, 8 KiB) */
#include <cstdio>
#include <new>

#define SIZE (16 << 10)

int main()
{
	void *volatile p = operator new(SIZE);
	/* The block is SIZE bytes: tell operator delete half that. */
	operator delete(p, SIZE / 2);
	std::puts("UNDETECTED");
	return 0;
}
