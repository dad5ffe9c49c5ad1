/* SPDX-License-Identifier: MIT */
/*
 * dlist.h - the intrusive doubly linked list five of strata's lists share:
 * free buddy blocks, partial slabs, an arena's regions, huge blocks and
 * the thread-cache registry.
 *
 * A list is a pointer to its first node; a node is any structure with
 * `next` and `prev` pointers to its own type.  Macros rather than a
 * list_head with container_of, so that each list keeps its node type and
 * its walks read no extra indirection.
 */
#ifndef STRATA_DLIST_H
#define STRATA_DLIST_H

#include <stddef.h>

/* Put node first on the list headed by head (an lvalue). */
#define dlist_push(head, node)                     \
	do {                                       \
		__typeof__(node) dl_n_ = (node);   \
		dl_n_->prev = NULL;                \
		dl_n_->next = (head);              \
		if (dl_n_->next)                   \
			dl_n_->next->prev = dl_n_; \
		(head) = dl_n_;                    \
	} while (0)

/* Put node last on the list headed by head whose last node is tail (both
 * lvalues): a FIFO list. */
#define dlist_append(head, tail, node)             \
	do {                                       \
		__typeof__(node) dl_n_ = (node);   \
		dl_n_->next = NULL;                \
		dl_n_->prev = (tail);              \
		if (dl_n_->prev)                   \
			dl_n_->prev->next = dl_n_; \
		else                               \
			(head) = dl_n_;            \
		(tail) = dl_n_;                    \
	} while (0)

/* dlist_del for a list with a tail pointer. */
#define dlist_del_tail(head, tail, node)         \
	do {                                     \
		__typeof__(node) dl_t_ = (node); \
		if ((tail) == dl_t_)             \
			(tail) = dl_t_->prev;    \
		dlist_del(head, dl_t_);          \
	} while (0)

/* Take node off the list headed by head; a node on no list (both links
 * NULL, not the head) is left alone. */
#define dlist_del(head, node)                            \
	do {                                             \
		__typeof__(node) dl_n_ = (node);         \
		if (dl_n_->prev)                         \
			dl_n_->prev->next = dl_n_->next; \
		else if ((head) == dl_n_)                \
			(head) = dl_n_->next;            \
		if (dl_n_->next)                         \
			dl_n_->next->prev = dl_n_->prev; \
		dl_n_->next = dl_n_->prev = NULL;        \
	} while (0)

/* Whether node is on the list headed by head, its links consistent on the
 * way: a walk, for strata_assert_expensive only. */
#define dlist_contains(head, node)                                         \
	({                                                                 \
		__typeof__(node) dl_w_ = (head);                           \
		__typeof__(node) dl_p_ = NULL;                             \
		while (dl_w_ && dl_w_ != (node) && dl_w_->prev == dl_p_) { \
			dl_p_ = dl_w_;                                     \
			dl_w_ = dl_w_->next;                               \
		}                                                          \
		dl_w_ == (node) && dl_w_->prev == dl_p_;                   \
	})

#endif
