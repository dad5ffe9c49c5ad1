/* SPDX-License-Identifier: MIT */
/* misuse: new char[512 KiB] freed with delete (g++ calls operator delete(p, 1)) */
#include <cstdio>

#define SIZE (512 << 10)

int main()
{
	/* With -fsized-deallocation, delete of a char * passes
	 * sizeof(char) to the sized operator delete: the wrong operator
	 * and the wrong size, as such code does in real programs. */
	char *volatile p = new char[SIZE];
	delete p;
	std::puts("UNDETECTED");
	return 0;
}
