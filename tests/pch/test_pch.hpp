// The precompiled header of the test programs (tests/meson.build): what
// every test file includes first, parsed once per program instead of once
// per file. Test files still include what they use themselves.
#include <catch2/catch.hpp>
#include <ucoro/ucoro.hpp>
