#pragma once
// Umbrella header: the core. Optional parts (CUDA, RMM, hwloc topology) have
// their own headers and are not pulled in here.

// First: on an older language standard, its static_assert says what to add
// before anything else fails to compile.
#include <ucoro/config.hpp>

#include <ucoro/p2p/address.hpp>
#include <ucoro/concepts/awaitable.hpp>
#include <ucoro/concepts/buffer.hpp>
#include <ucoro/ucx/context.hpp>
#include <ucoro/p2p/endpoint.hpp>
#include <ucoro/error.hpp>
#include <ucoro/runtime/event.hpp>
#include <ucoro/p2p/listener.hpp>
#include <ucoro/p2p/options.hpp>
#include <ucoro/runtime/progress_engine.hpp>
#include <ucoro/ucx/tag.hpp>
#include <ucoro/runtime/task.hpp>
#include <ucoro/runtime/task_scope.hpp>
#include <ucoro/runtime/timer.hpp>
#include <ucoro/runtime/when_all.hpp>
#include <ucoro/ucx/worker.hpp>
