#pragma once
// A doubly linked list of nodes that live elsewhere (in an awaiting frame):
// an endpoint's pending operations, an event's waiters. No allocation on
// the hot path.

#include <vector>

namespace ucoro::detail {

struct list_node {
  list_node* prev = nullptr;
  list_node* next = nullptr;
};

class intrusive_list {
public:
  intrusive_list() noexcept = default;
  intrusive_list(const intrusive_list&) = delete;
  intrusive_list& operator=(const intrusive_list&) = delete;

  void push_front(list_node& node) noexcept {
    node.prev = nullptr;
    node.next = m_head;
    if (m_head != nullptr)
      m_head->prev = &node;
    m_head = &node;
  }

  void erase(list_node& node) noexcept {
    if (node.prev != nullptr)
      node.prev->next = node.next;
    else if (m_head == &node)
      m_head = node.next;
    if (node.next != nullptr)
      node.next->prev = node.prev;
    node.prev = node.next = nullptr;
  }

  [[nodiscard]] bool empty() const noexcept { return m_head == nullptr; }
  [[nodiscard]] list_node* front() const noexcept { return m_head; }

  /// The nodes as they are now, for a walk whose steps unlink nodes.
  template <class Node>
  [[nodiscard]] std::vector<Node*> snapshot() const {
    std::vector<Node*> out;
    for (list_node* node = m_head; node != nullptr; node = node->next)
      out.push_back(static_cast<Node*>(node));
    return out;
  }

private:
  list_node* m_head = nullptr;
};

} // namespace ucoro::detail
