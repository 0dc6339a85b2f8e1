#pragma once
// Kept for users: this header now lives with its layer.
#include <ucoro/p2p/endpoint.hpp>
