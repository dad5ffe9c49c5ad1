/*
 * strata.h - the public interface of the strata allocator.
 *
 * strata replaces the malloc family (malloc, free, calloc, realloc, ...);
 * those keep their standard declarations in <stdlib.h> and <malloc.h>.  This
 * header adds strata's own calls.  Every call is safe from any thread.
 */
#ifndef STRATA_H
#define STRATA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_VERSION_MAJOR 0
#define STRATA_VERSION_MINOR 1
#define STRATA_VERSION_PATCH 0

/* The library's version as "MAJOR.MINOR.PATCH". */
const char *strata_version(void);

/* Return the calling thread's cached free objects to their arenas. */
void strata_thread_flush(void);

/* Flush the calling thread's cache and give every arena's unused memory back
 * to the operating system.  Returns the number of bytes released. */
size_t strata_trim(void);

#ifdef __cplusplus
}
#endif

#endif
