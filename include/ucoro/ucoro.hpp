#pragma once
// Umbrella header: the core. Optional parts (CUDA, RMM, hwloc topology) have
// their own headers and are not pulled in here.

// First: on an older language standard, its static_assert says what to add
// before anything else fails to compile.
#include <ucoro/config.hpp>

#include <ucoro/address.hpp>
#include <ucoro/concepts/awaitable.hpp>
#include <ucoro/concepts/buffer.hpp>
#include <ucoro/context.hpp>
#include <ucoro/endpoint.hpp>
#include <ucoro/error.hpp>
#include <ucoro/event.hpp>
#include <ucoro/listener.hpp>
#include <ucoro/options.hpp>
#include <ucoro/progress_engine.hpp>
#include <ucoro/tag.hpp>
#include <ucoro/task.hpp>
#include <ucoro/task_scope.hpp>
#include <ucoro/timer.hpp>
#include <ucoro/when_all.hpp>
#include <ucoro/worker.hpp>
