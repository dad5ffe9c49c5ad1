/* SPDX-License-Identifier: MIT */
/*
 * os.h - the operating-system layer: every memory system call strata makes.
 */
#ifndef STRATA_OS_H
#define STRATA_OS_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

void    *os_map(size_t size);
void    *os_map_aligned(size_t size, size_t align);
void    *os_map_hugetlb(size_t size, size_t align, unsigned page_shift, bool reserve);
void     os_prefault(void *p, size_t size);
void     os_unmap(void *p, size_t size);
void     os_decommit(void *p, size_t size);
void    *os_reserve(size_t size, size_t align);
bool     os_protect(void *p, size_t size, bool access);
bool     os_advise_huge(void *p, size_t size);
void    *os_remap_aligned(void *p, size_t old_size, size_t new_size, size_t align);
bool     os_remap_inplace(void *p, size_t old_size, size_t new_size);
unsigned os_cpu_count(void);
uint64_t os_random(void);
bool     os_populate(void *p, size_t size);
bool     os_map_plain_at(void *p, size_t size);
bool     os_map_guard_at(void *p, size_t size);
/* Mappings that asked for hugetlb pages and got others. */
extern uint64_t _strata_hugetlb_fallbacks strata_hidden;
void            hugetlb_fell_back(void);
void            os_keys_init(void);
bool            os_thread_start(void *(*fn)(void *));
uint64_t        os_now_ms(void);
uint64_t        os_now_ns(void);
size_t          os_resident(const void *p, size_t size);
size_t          os_rss(void);
bool            os_read_file(const char *path, char *buf, size_t size);
size_t          os_memory_limit(void);
size_t          os_cgroup_limit(const char *root, const char *table);
void            os_fork_copy_add(void *p, size_t size);
void            os_fork_copy_child(void);
void            os_fork_copy_parent(void);
bool            os_fork_copied(const void *p);
void            os_fork_copy_done(void);

#endif
