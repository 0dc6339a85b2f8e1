#!/usr/bin/env bash
# After `meson install` into a temporary prefix, ucoro is consumed the three
# ways users do: pkg-config (which imposes no -std= and no optional
# dependency), a CMake project (find_package + ucoro::ucoro, version file,
# optional hwloc component), and a compiler on an older standard, which must
# be told exactly what to add. Usage: install_check.sh SOURCE_ROOT VERSION
set -euo pipefail
src=$1
version=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
fail() {
  echo "install check FAILED: $*"
  exit 1
}
meson setup "$tmp/build" "$src" --prefix="$tmp/prefix" -Dtests=false -Dexamples=false -Dbench=false >/dev/null
meson install -C "$tmp/build" >/dev/null
pc=$(dirname "$(find "$tmp/prefix" -name ucoro.pc | head -1)")
export PKG_CONFIG_PATH="$pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
test -f "$tmp/prefix/include/ucoro/ucx/detail/request_op.hpp" || fail "detail headers not installed"
test -f "$tmp/prefix/include/ucoro/version.hpp" || fail "version.hpp not installed"

# pkg-config: no language flag, UCX the only requirement, the project version.
cflags=$(pkg-config --cflags ucoro)
case " $cflags " in *-std=*) fail "pkg-config --cflags ucoro imposes a standard: $cflags" ;; esac
requires=$(pkg-config --print-requires ucoro | tr '\n' ' ')
[ "$requires" = "ucx " ] || [ "$requires" = "ucx >= 1.12 " ] || fail "pkg-config Requires is '$requires', expected ucx only"
[ "$(pkg-config --modversion ucoro)" = "$version" ] || fail "pkg-config version $(pkg-config --modversion ucoro), expected $version"
passed=$((passed + 1))

cat > "$tmp/user.cpp" <<'CPP'
#include <ucoro/ucoro.hpp>
int main() {
  ucoro::context ctx;
  ucoro::worker w{ctx};
  return w.run([]() -> ucoro::task<int> { co_return 0; }());
}
CPP
# shellcheck disable=SC2046
c++ -std=c++20 "$tmp/user.cpp" -o "$tmp/user" $(pkg-config --cflags --libs ucoro)
"$tmp/user" || fail "the pkg-config consumer failed"
passed=$((passed + 1))

# An older standard: the first diagnostic says what to add.
# shellcheck disable=SC2046
if c++ -std=c++17 -c "$tmp/user.cpp" -o "$tmp/user17.o" $(pkg-config --cflags ucoro) 2>"$tmp/cxx17.log"; then
  fail "a C++17 compile of ucoro.hpp succeeded"
fi
grep -m1 -E "error" "$tmp/cxx17.log" | grep -q "ucoro needs C++20" ||
  fail "the first error on C++17 is not ucoro's: $(grep -m1 error "$tmp/cxx17.log")"
passed=$((passed + 1))

# CMake: find_package(ucoro 0.1 CONFIG REQUIRED), ucoro::ucoro, no -std flag
# of its own; the hwloc component where hwloc is installed.
cmake -S "$src/tests/cmake_consumer" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DEXPECTED_UCORO_VERSION="$version" >"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; fail "cmake configure"; }
cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; fail "cmake build"; }
"$tmp/cmake/consumer" || fail "the CMake consumer failed"
passed=$((passed + 1))
if pkg-config --exists hwloc; then
  test -x "$tmp/cmake/consumer_hwloc" || fail "hwloc is installed but the ucoro::hwloc component was not found"
  "$tmp/cmake/consumer_hwloc" || fail "the CMake hwloc consumer failed"
  passed=$((passed + 1))
fi

# The version file: an incompatible request is refused.
mkdir -p "$tmp/cmake_v9"
cat > "$tmp/cmake_v9/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(v9 CXX)
find_package(ucoro 9.0 CONFIG REQUIRED)
CMAKE
if cmake -S "$tmp/cmake_v9" -B "$tmp/cmake_v9/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/v9.log" 2>&1; then
  fail "find_package(ucoro 9.0) accepted version $version"
fi
grep -q "$version" "$tmp/v9.log" || fail "the refusal of ucoro 9.0 does not name the installed version"
passed=$((passed + 1))

echo "install check: $passed passed, 0 failed"
