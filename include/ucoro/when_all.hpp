#pragma once
// Kept for users: this header now lives with its layer.
#include <ucoro/runtime/when_all.hpp>
