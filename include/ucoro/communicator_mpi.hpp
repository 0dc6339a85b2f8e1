#pragma once
// Kept for users: this header now lives with its layer.
#include <ucoro/comm/communicator_mpi.hpp>
