#include <ucoro/ucoro.hpp>

int odr_b();

int main() {
  // Both TUs use the same inline entities; the values must agree.
  const bool same_category = odr_b() == static_cast<int>(ucoro::tag_layout::space_shift);
  return same_category && std::string(ucoro::ucx_category().name()) == "ucx" ? 0 : 1;
}
