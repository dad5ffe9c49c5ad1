/* SPDX-License-Identifier: MIT */
/* misuse: a 32-byte block from malloc freed with delete */
#include <cstdio>
#include <cstdlib>

#define SIZE 32

struct obj {
	char b[SIZE];
};

int main()
{
	/* The right size (sizeof(obj)) reaches operator delete: only
	 * the mismatch of malloc and delete is wrong. */
	obj *volatile p = static_cast<obj *>(std::malloc(sizeof(obj)));
	delete p;
	std::puts("UNDETECTED");
	return 0;
}
