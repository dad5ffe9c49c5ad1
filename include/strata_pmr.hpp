/* SPDX-License-Identifier: MIT */
// strata_pmr.hpp - std::pmr::memory_resource over strata's private heaps and
// object caches (C++17, header only).
//
//   strata::heap_resource req("request");       // a private heap of its own
//   std::pmr::vector<std::pmr::string> v(&req);
//   ...
//   req.release();                               // every block at once
//
//   strata::cache_resource nodes("nodes", 48);   // blocks of up to 48 bytes
//   std::pmr::list<int> l(&nodes);               // each node is one object
//
// A cache_resource serves blocks that fit its objects and passes the others
// to its upstream resource.
#ifndef STRATA_PMR_HPP
#define STRATA_PMR_HPP

#include <cstddef>
#include <memory_resource>
#include <new>

#include "strata.h"

namespace strata
{

class heap_resource : public std::pmr::memory_resource
{
      public:
	explicit heap_resource(const char *name = "pmr")
	    : heap_(strata_heap_create(name)), owned_(true)
	{
		if (heap_ == nullptr)
			throw std::bad_alloc();
	}
	// Over a heap the caller keeps (and destroys).
	explicit heap_resource(strata_heap_t *heap) noexcept : heap_(heap), owned_(false) {}
	heap_resource(const heap_resource &) = delete;
	heap_resource &operator=(const heap_resource &) = delete;
	~heap_resource() override
	{
		if (owned_)
			strata_heap_destroy(heap_);
	}

	strata_heap_t *native_handle() const noexcept { return heap_; }
	// Every block of the heap goes at once (strata_heap_reset).
	void release() noexcept { strata_heap_reset(heap_); }

      protected:
	void *do_allocate(std::size_t bytes, std::size_t align) override
	{
		void *p = align <= alignof(std::max_align_t)
		                  ? strata_heap_malloc(heap_, bytes)
		                  : strata_heap_memalign(heap_, align, bytes);
		if (p == nullptr)
			throw std::bad_alloc();
		return p;
	}
	void do_deallocate(void *p, std::size_t, std::size_t) override { strata_free(p); }
	bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override
	{
		return this == &other;
	}

      private:
	strata_heap_t *heap_;
	bool           owned_;
};

class cache_resource : public std::pmr::memory_resource
{
      public:
	cache_resource(const char *name, std::size_t size,
	               std::size_t                align = alignof(std::max_align_t),
	               std::pmr::memory_resource *upstream = std::pmr::get_default_resource())
	    : cache_(strata_cache_create(name, size, align, 0)), size_(size), align_(align),
	      upstream_(upstream)
	{
		if (cache_ == nullptr)
			throw std::bad_alloc();
	}
	cache_resource(const cache_resource &) = delete;
	cache_resource &operator=(const cache_resource &) = delete;
	// Objects still in use keep the cache (strata_cache_destroy says so).
	~cache_resource() override { strata_cache_destroy(cache_); }

	strata_cache_t *native_handle() const noexcept { return cache_; }

      protected:
	void *do_allocate(std::size_t bytes, std::size_t align) override
	{
		if (!fits(bytes, align))
			return upstream_->allocate(bytes, align);
		void *p = strata_cache_alloc(cache_);
		if (p == nullptr)
			throw std::bad_alloc();
		return p;
	}
	void do_deallocate(void *p, std::size_t bytes, std::size_t align) override
	{
		if (fits(bytes, align))
			strata_cache_free(cache_, p);
		else
			upstream_->deallocate(p, bytes, align);
	}
	bool do_is_equal(const std::pmr::memory_resource &other) const noexcept override
	{
		return this == &other;
	}

      private:
	bool fits(std::size_t bytes, std::size_t align) const noexcept
	{
		return bytes <= size_ && align <= align_;
	}

	strata_cache_t            *cache_;
	std::size_t                size_;
	std::size_t                align_;
	std::pmr::memory_resource *upstream_;
};

} // namespace strata

#endif
