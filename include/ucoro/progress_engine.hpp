#pragma once
// Kept for users: this header now lives with its layer.
#include <ucoro/runtime/progress_engine.hpp>
