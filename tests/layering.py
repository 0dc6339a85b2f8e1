#!/usr/bin/env python3
"""ucoro's layers, declared once, and the check that headers respect them.

Usage: layering.py INCLUDE_DIR        check the tree under INCLUDE_DIR/ucoro
       layering.py --self-test        show that the check fails when it must

A header's layer is its folder under include/ucoro (LAYERS below, lowest
first). A header may include headers of its own layer and of layers below,
never above, and the includes must not close a cycle. The top level holds
the base (BASE), the umbrella (UMBRELLA) and forwarding headers: the paths
users included before the layers had folders, each one `#include` of the
header's home. Library code includes homes, never forwarders. A few UCX
calls may be made by one header only (ONLY_IN): the operation layer.

Exits 1 and names every include or call that breaks a rule.
"""
import pathlib
import re
import sys
import tempfile

# Lowest first. Each folder holds its public headers and its own detail/.
LAYERS = [
    ("base", "config.hpp, version.hpp, error.hpp: what every layer needs"),
    ("concepts", "buffer and awaitable concepts, buffer_traits"),
    ("buffer", "adapters for device memory types (CUDA, RMM)"),
    ("runtime", "tasks, structured concurrency, timers, the progress engine, process identity"),
    ("ucx", "UCX context and worker, tag operations on a worker, topology"),
    ("memory", "host and device memory, registration, the registered pool"),
    ("p2p", "endpoints and listeners: the front door, connections, failure detection"),
    ("comm", "the communicator, its bootstraps, all-to-all"),
    ("join", "partition, shuffle, local and distributed hash join"),
    ("umbrella", "ucoro.hpp"),
]
BASE = {"config.hpp", "version.hpp", "error.hpp"}
# UCX calls that only one header may make: every layer above posts through it.
ONLY_IN = {
    "ucp_tag_send_nbx": "ucx/tag.hpp",
    "ucp_tag_recv_nbx": "ucx/tag.hpp",
}
UMBRELLA = {"ucoro.hpp"}
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]ucoro/([^>"]+)[>"]', re.M)


def strip_comments(text):
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)


def is_forwarder(text):
    """`#pragma once` and exactly one ucoro include, nothing else."""
    lines = [l.strip() for l in strip_comments(text).splitlines() if l.strip()]
    return len(lines) == 2 and lines[0] == "#pragma once" and INCLUDE.match(lines[1]) is not None


def check(root):
    """Returns the list of problems in the tree under root (= include/ucoro)."""
    problems, layer, includes, forwarders = [], {}, {}, set()
    files = sorted(p for p in root.rglob("*") if p.suffix in (".hpp", ".ipp", ".cuh"))
    for path in files:
        rel = path.relative_to(root).as_posix()
        text = path.read_text()
        includes[rel] = INCLUDE.findall(strip_comments(text))
        top = rel.split("/")[0]
        if "/" not in rel:
            if rel in BASE:
                layer[rel] = "base"
            elif rel in UMBRELLA:
                layer[rel] = "umbrella"
            elif is_forwarder(text):
                forwarders.add(rel)
            else:
                problems.append(f"{rel}: a top-level header that is neither base, umbrella nor a forwarder: "
                                f"move it into its layer's folder")
        elif top in RANK:
            layer[rel] = top
        else:
            problems.append(f"{rel}: folder '{top}' is not a layer; declare it in LAYERS (tests/layering.py)")
    for f in sorted(forwarders):
        target = includes[f][0]
        if target not in layer:
            problems.append(f"{f}: forwards to <ucoro/{target}>, which is not a layer's header")
        else:
            layer[f] = layer[target]

    for rel in sorted(layer):
        if rel in forwarders:
            continue
        for target in includes[rel]:
            if target not in includes:
                problems.append(f"{rel}: includes <ucoro/{target}>, which does not exist")
            elif target in forwarders:
                problems.append(f"{rel}: includes the forwarder <ucoro/{target}>; include its home "
                                f"<ucoro/{includes[target][0]}>")
            elif target in layer and RANK[layer[target]] > RANK[layer[rel]]:
                problems.append(f"{rel} (layer {layer[rel]}) includes <ucoro/{target}> from the higher layer "
                                f"{layer[target]}: a lower layer must not know a higher one")

    for rel in sorted(includes):
        code = strip_comments((root / rel).read_text())
        for call, home in ONLY_IN.items():
            if rel != home and re.search(r"\b" + call + r"\s*\(", code):
                problems.append(f"{rel}: calls {call}, which only {home} may call: post through it")

    # Cycles: depth-first search over the include graph.
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in includes.get(node, []):
            if target not in includes:
                continue
            if state.get(target) == "open":
                cycle = stack[stack.index(target):] + [target]
                problems.append("include cycle: " + " -> ".join(cycle))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for rel in sorted(includes):
        if rel not in state:
            visit(rel)
    return problems


def self_test():
    """The check passes on a clean tree and fails, naming the include, on an
    upward include, a cycle, a library include of a forwarder, and a folder
    that is not a layer."""
    def tree(files):
        d = pathlib.Path(tempfile.mkdtemp()) / "ucoro"
        for rel, text in files.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_text("#pragma once\n" + text)
        return d

    clean = {
        "error.hpp": "",
        "runtime/task.hpp": "#include <ucoro/error.hpp>\n",
        "ucx/worker.hpp": "#include <ucoro/runtime/task.hpp>\n// #include <ucoro/comm/communicator.hpp>\n",
        "comm/communicator.hpp": "#include <ucoro/ucx/worker.hpp>\n",
        "worker.hpp": "#include <ucoro/ucx/worker.hpp>\n",
    }
    cases = {
        "upward": ({"ucx/worker.hpp": "#include <ucoro/comm/communicator.hpp>\n"},
                   "ucx/worker.hpp (layer ucx) includes <ucoro/comm/communicator.hpp> from the higher layer comm"),
        "cycle": ({"runtime/a.hpp": "#include <ucoro/runtime/b.hpp>\n", "runtime/b.hpp": "#include <ucoro/runtime/a.hpp>\n"},
                  "include cycle: runtime/a.hpp -> runtime/b.hpp -> runtime/a.hpp"),
        "forwarder": ({"comm/communicator.hpp": "#include <ucoro/worker.hpp>\n"}, "includes the forwarder <ucoro/worker.hpp>"),
        "unknown folder": ({"misc/x.hpp": ""}, "folder 'misc' is not a layer"),
        "loose top-level header": ({"stray.hpp": "int x;\n"}, "stray.hpp: a top-level header"),
        "UCX call outside its layer": ({"comm/communicator.hpp": "#include <ucoro/ucx/worker.hpp>\n"
                                        "void f() { ucp_tag_send_nbx(0, 0, 0, 0, 0); }\n"},
                                       "comm/communicator.hpp: calls ucp_tag_send_nbx, which only ucx/tag.hpp may call"),
    }
    failures = []
    if check(tree(clean)):
        failures.append(f"clean tree reported: {check(tree(clean))}")
    for name, (change, expected) in cases.items():
        got = check(tree({**clean, **change}))
        if not any(expected in p for p in got):
            failures.append(f"{name}: expected a problem containing {expected!r}, got {got}")
    for f in failures:
        print("SELF-TEST FAILED:", f)
    print(f"self-test: {len(cases) - len(failures)} of {len(cases)} broken trees caught, clean tree passes"
          if not failures else "self-test failed")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    root = pathlib.Path(sys.argv[1]) / "ucoro"
    found = check(root)
    for p in found:
        print("LAYERING:", p)
    count = sum(1 for p in root.rglob("*") if p.suffix in (".hpp", ".ipp", ".cuh"))
    print(f"{count} headers in {len(LAYERS)} layers; {len(found)} problems")
    sys.exit(1 if found else 0)
