#pragma once
// Kept for users: this header now lives with its layer.
#include <ucoro/comm/all_to_all.hpp>
