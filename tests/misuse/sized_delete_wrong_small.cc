/* SPDX-License-Identifier: MIT */
/* misuse: sized operator delete with the wrong size: operator new(32), operator delete(p, 16) */
#include <cstdio>
#include <new>

#define SIZE 32

int main()
{
	void *volatile p = operator new(SIZE);
	/* The block is SIZE bytes: tell operator delete half that. */
	operator delete(p, SIZE / 2);
	std::puts("UNDETECTED");
	return 0;
}
