#pragma once

#include <concepts>
#include <coroutine>
#include <type_traits>
#include <utility>

namespace ucoro {

namespace detail {

template <class T>
concept has_member_co_await = requires(T&& t) { std::forward<T>(t).operator co_await(); };

template <class T>
concept has_free_co_await = requires(T&& t) { operator co_await(std::forward<T>(t)); };

template <class T>
decltype(auto) get_awaiter(T&& value) {
  if constexpr (has_member_co_await<T>)
    return std::forward<T>(value).operator co_await();
  else if constexpr (has_free_co_await<T>)
    return operator co_await(std::forward<T>(value));
  else
    return std::forward<T>(value);
}

} // namespace detail

/// Something with await_ready / await_resume (await_suspend may be a
/// template on the promise type, so it is not checked here).
template <class A>
concept awaiter = requires(A& a) {
  { a.await_ready() } -> std::convertible_to<bool>;
  a.await_resume();
};

/// Anything `co_await` accepts: an awaiter, or a type with operator co_await.
template <class T>
concept awaitable = requires(T&& t) {
  { detail::get_awaiter(std::forward<T>(t)) } -> awaiter;
};

template <awaitable T>
using await_result_t = decltype(std::declval<decltype(detail::get_awaiter(std::declval<T>()))&>().await_resume());

} // namespace ucoro
