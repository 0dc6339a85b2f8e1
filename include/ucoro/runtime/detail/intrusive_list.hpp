#pragma once
// A doubly linked list of nodes that live elsewhere (in an awaiting frame or
// a coroutine promise): an endpoint's pending operations, an event's
// waiters, a task_scope's children, the engine's queued cancellations. No
// allocation on the hot path. The one list of the house.
//
// `Tag` tells lists of different kinds apart, so one object can be a node
// of two (a send is on its endpoint's pending list and, through its
// request_op base, on the engine's cancel list) without two bases of the
// same type.

#include <vector>

namespace ucoro::detail {

template <class Tag = void>
struct basic_list_node {
  basic_list_node* prev = nullptr;
  basic_list_node* next = nullptr;
};

template <class Tag = void>
class basic_intrusive_list {
public:
  using node_type = basic_list_node<Tag>;

  basic_intrusive_list() noexcept = default;
  basic_intrusive_list(const basic_intrusive_list&) = delete;
  basic_intrusive_list& operator=(const basic_intrusive_list&) = delete;

  void push_front(node_type& node) noexcept {
    node.prev = nullptr;
    node.next = m_head;
    if (m_head != nullptr)
      m_head->prev = &node;
    m_head = &node;
  }

  void erase(node_type& node) noexcept {
    if (node.prev != nullptr)
      node.prev->next = node.next;
    else if (m_head == &node)
      m_head = node.next;
    if (node.next != nullptr)
      node.next->prev = node.prev;
    node.prev = node.next = nullptr;
  }

  /// Unlinks and returns the first node (the list must not be empty).
  template <class Node>
  Node& pop_front() noexcept {
    node_type& node = *m_head;
    erase(node);
    return static_cast<Node&>(node);
  }

  [[nodiscard]] bool empty() const noexcept { return m_head == nullptr; }
  [[nodiscard]] node_type* front() const noexcept { return m_head; }

  /// The nodes as they are now, for a walk whose steps unlink nodes.
  template <class Node>
  [[nodiscard]] std::vector<Node*> snapshot() const {
    std::vector<Node*> out;
    for (node_type* node = m_head; node != nullptr; node = node->next)
      out.push_back(static_cast<Node*>(node));
    return out;
  }

private:
  node_type* m_head = nullptr;
};

using list_node = basic_list_node<>;
using intrusive_list = basic_intrusive_list<>;

} // namespace ucoro::detail
