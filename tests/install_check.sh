#!/usr/bin/env bash
# After `meson install`, a user's `pkg-config --cflags --libs ucoro` builds and
# runs a program that includes ucoro. Usage: install_check.sh SOURCE_ROOT
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson setup "$tmp/build" "$src" --prefix="$tmp/prefix" -Dtests=false -Dexamples=false -Dbench=false >/dev/null
meson install -C "$tmp/build" >/dev/null
pc=$(dirname "$(find "$tmp/prefix" -name ucoro.pc | head -1)")
export PKG_CONFIG_PATH="$pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
cat > "$tmp/user.cpp" <<'CPP'
#include <ucoro/ucoro.hpp>
int main() {
  ucoro::context ctx;
  ucoro::worker w{ctx};
  return w.run([]() -> ucoro::task<int> { co_return 0; }());
}
CPP
# shellcheck disable=SC2046
c++ "$tmp/user.cpp" -o "$tmp/user" $(pkg-config --cflags --libs ucoro)
"$tmp/user"
test -f "$tmp/prefix/include/ucoro/detail/request_op.hpp"
echo "install check: 1 passed, 0 failed"
