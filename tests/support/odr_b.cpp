#include <ucoro/ucoro.hpp>

int odr_b() {
  (void)ucoro::ucx_category();
  return static_cast<int>(ucoro::tag_layout::space_shift);
}
