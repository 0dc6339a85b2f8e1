#pragma once
// ucoro's version. meson.build's project() version is the one source: the
// build refuses to configure when these lines say something else, so the
// installed header, ucoro.pc and the CMake package always agree.

#define UCORO_VERSION_MAJOR 0
#define UCORO_VERSION_MINOR 1
#define UCORO_VERSION_PATCH 0
#define UCORO_VERSION_STRING "0.1.0"
/// One number for comparisons: 0.1.0 is 100, 1.2.3 is 10203.
#define UCORO_VERSION (UCORO_VERSION_MAJOR * 10000 + UCORO_VERSION_MINOR * 100 + UCORO_VERSION_PATCH)
