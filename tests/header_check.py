#!/usr/bin/env python3
"""Each header under include/ucoro compiles on its own: a translation unit
holding only `#include <ucoro/HEADER>`, checked with -fsyntax-only (no code
generated, nothing linked) by the compiler and flags of this build, so a
GCC build checks with GCC and a Clang build with Clang.

Usage: header_check.py BUILD_DIR INCLUDE_DIR [JOBS]

Every header is found by walking INCLUDE_DIR/ucoro (a list kept by hand missed
five). Flags come from BUILD_DIR/compile_commands.json: those of a translation
unit that uses ucoro_dep alone; a header that needs an optional dependency
(MPI, the CUDA runtime, thrust) takes the flags of the test that uses it, and
is reported skipped where that test is not built. Exits 1 if any header fails.
"""
import concurrent.futures
import json
import os
import pathlib
import shlex
import subprocess
import sys

build = pathlib.Path(sys.argv[1]).resolve()
include = pathlib.Path(sys.argv[2]).resolve()
jobs = int(sys.argv[3]) if len(sys.argv) > 3 else (os.cpu_count() or 2)

# Header -> the target whose flags it needs (matched against the object path).
# Both a header's home and its top-level forwarder need them.
needs = {
    "communicator_mpi.hpp": ("ucoro_test_comm_rank_mpi.p/", "MPI (meson found no mpi)"),
    "comm/communicator_mpi.hpp": ("ucoro_test_comm_rank_mpi.p/", "MPI (meson found no mpi)"),
    "cuda.hpp": ("test_cuda_runtime.p/", "the CUDA runtime (no CUDA toolkit found)"),
    "memory/cuda.hpp": ("test_cuda_runtime.p/", "the CUDA runtime (no CUDA toolkit found)"),
    "join/device.hpp": ("test_thrust_cpp.p/", "thrust (no thrust headers found)"),
}
default_target = "ucoro_test_peer.p/"

commands = json.loads((build / "compile_commands.json").read_text())


def flags_of(target):
    """The compile command of `target`'s first object, without its source,
    output and dependency-file arguments."""
    for entry in commands:
        if target in entry.get("output", entry["command"]):
            args = shlex.split(entry["command"]) if "command" in entry else entry["arguments"]
            kept, skip = [], False
            for a in args:
                if skip:
                    skip = False
                elif a in ("-o", "-MF", "-MQ", "-MT"):
                    skip = True
                elif a in ("-c", "-MD", "-MMD", "-fdiagnostics-color=always", "-fcolor-diagnostics") or \
                        a == entry["file"] or a.endswith((".cpp", ".cc", ".cu")):
                    pass
                else:
                    kept.append(a)
            return kept
    return None


def check(header, flags):
    source = f"#include <ucoro/{header}>\n"
    run = subprocess.run(flags + ["-fsyntax-only", "-x", "c++", "-"], input=source, cwd=build,
                         capture_output=True, text=True)
    return header, run.returncode, run.stdout + run.stderr


# .ipp files are parts of the header that includes them, not headers.
headers = sorted(str(p.relative_to(include / "ucoro")) for p in (include / "ucoro").rglob("*.hpp"))
base = flags_of(default_target)
if base is None:
    print(f"no compile command for {default_target} in {build}/compile_commands.json")
    sys.exit(1)
work, skipped = [], []
for h in headers:
    target, why = needs.get(h, (default_target, None))
    flags = flags_of(target)
    if flags is None:
        skipped.append(f"{h}: needs {why}")
        continue
    if h == "comm/detail/pmix_bootstrap.hpp" and "-DUCORO_HAS_PMIX=1" not in flags:
        skipped.append(f"{h}: needs PMIx (meson found no pmix)")
        continue
    work.append((h, flags))

compiler = pathlib.Path(base[0]).name
failed = 0
with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
    for header, status, output in pool.map(lambda w: check(*w), work):
        if status != 0:
            failed += 1
            print(f"FAILED: <ucoro/{header}> does not compile on its own ({compiler}):\n{output}")
for s in skipped:
    print(f"skipped {s}")
print(f"{len(work) - failed} of {len(work)} headers compile on their own with {compiler}; "
      f"{failed} failed, {len(skipped)} skipped")
sys.exit(1 if failed else 0)
