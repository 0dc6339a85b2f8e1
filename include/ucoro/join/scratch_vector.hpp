#pragma once
// The join's scratch columns: a std::vector on huge pages whose resize
// leaves values unset (memory/huge_pages.hpp says why both pay).

#include <ucoro/memory/huge_pages.hpp>

#include <vector>

namespace ucoro::join {

using ucoro::advise_huge;
using ucoro::huge_page_allocator;
using ucoro::resize_huge;

/// A scratch column: every value is written before it is read.
template <class T>
using scratch_vector = std::vector<T, huge_page_allocator<T>>;

} // namespace ucoro::join
