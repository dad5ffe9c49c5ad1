/* SPDX-License-Identifier: MIT */
/*
 * profile.h - the live blocks by call stack as a heap profile in
 * gperftools' text format, which google-pprof (and Go's pprof) reads.
 *
 * Nothing here allocates through malloc: the profile may be written from
 * inside a program whose malloc is strata (see profile.c).
 */
#ifndef STRATA_PROFILE_H
#define STRATA_PROFILE_H

#include "internal.h"

/* The profile on fd.  0, or -1 with errno set (ENOMEM: no scratch mapping;
 * otherwise write's or open's).  Empty, but well formed, when leak
 * tracking is off. */
int profile_write(int fd);

/* The profile to path, created or truncated.  0, or -1 with errno set. */
int profile_write_file(const char *path);

#endif
