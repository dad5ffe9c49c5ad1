/* SPDX-License-Identifier: MIT */
// C++ operator new and delete go through strata's malloc and free.
#include <malloc.h>
#include <signal.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

static int failures;

static void expect(bool ok, const char *what)
{
	if (!ok) {
		std::fprintf(stderr, "test_cxx: FAILED: %s\n", what);
		failures++;
	}
}

struct Base {
	long a;
};
struct Derived : Base {
	long more[20];
};

// Sized delete: every size of every kind of block passes; a delete through
// a base class without a virtual destructor (the base's size for the
// derived's block) stops the program.
static void sized_delete()
{
	for (size_t n = 1; n < 70000; n += n / 8 + 1) {
		void *p = ::operator new(n);
		::          operator delete(p, n);
		char       *a = new char[n];
		delete[] a;
	}
	void *huge = ::operator new(9 << 20);
	::             operator delete(huge, 9 << 20);
	std::fflush(nullptr);
	pid_t pid = fork();
	if (pid == 0) {
		Base *b = new Derived;
		::    operator delete(b, sizeof(Base));
		_exit(0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	       "a sized delete with the wrong size aborts");
	// the same for a block another thread allocated
	std::fflush(nullptr);
	pid = fork();
	if (pid == 0) {
		Base     *b = nullptr;
		pthread_t t;
		pthread_create(
		        &t, nullptr,
		        [](void *out) -> void * {
			        *static_cast<Base **>(out) = new Derived;
			        return nullptr;
		        },
		        &b);
		pthread_join(t, nullptr);
		::operator delete(b, sizeof(Base));
		_exit(0);
	}
	waitpid(pid, &status, 0);
	expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	       "a sized delete with the wrong size of another thread's block aborts");
}

struct alignas(256) Wide {
	char bytes[300];
};

int main()
{
	size_t before = mallinfo2().uordblks;
	{
		std::vector<std::unique_ptr<std::string>> v;
		for (int i = 0; i < 100000; i++)
			v.push_back(std::make_unique<std::string>(std::string(40 + i % 200, 'x')));
		expect(mallinfo2().uordblks > before + 100000 * 40,
		       "strata counts the blocks new made");
		// strata knows the pointer (it aborts on a foreign one)
		expect(malloc_usable_size(v[123].get()) >= sizeof(std::string),
		       "usable size of a new'd object");
	}
	std::map<int, std::string> m;
	for (int i = 0; i < 50000; i++)
		m[i] = std::to_string(i * 7);
	expect(m[49999] == std::to_string(49999 * 7), "map contents");
	m.clear();

	for (int i = 0; i < 1000; i++) {
		Wide *w = new Wide[3];
		expect(reinterpret_cast<uintptr_t>(w) % 256 == 0, "aligned new");
		w[2].bytes[299] = 1;
		delete[] w;
	}
	int *big = new int[10 << 20]; // 40 MiB: a huge block
	big[(10 << 20) - 1] = 7;
	expect(malloc_usable_size(big) >= (40u << 20), "huge new");
	delete[] big;

	std::printf("test_cxx: %s\n", failures ? "FAIL" : "PASS");
	sized_delete();
	return failures ? 1 : 0;
}
