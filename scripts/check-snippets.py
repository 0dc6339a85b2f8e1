#!/usr/bin/env python3
"""Checks that code shown in the docs is code that is compiled and tested.

A fenced block preceded by an HTML comment `<!-- snippet: FILE NAME -->` must
equal, line for line, the region between `// [snippet:NAME]` and
`// [/snippet:NAME]` in FILE (relative to the repository root).
Usage: check-snippets.py ROOT [--strict] DOC...   Exits 1 on any mismatch.
Docs after --strict may show no C++ block without a marker: every ```cpp
block in them is code the tests compile.
"""
import pathlib
import re
import sys
import textwrap

root = pathlib.Path(sys.argv[1])
failures = 0
checked = 0
marker = re.compile(r"<!--\s*snippet:\s*(\S+)\s+(\S+)\s*-->")
strict = False
for doc in sys.argv[2:]:
    if doc == "--strict":
        strict = True
        continue
    lines = (root / doc).read_text().splitlines()
    if strict:
        for i, line in enumerate(lines):
            if line.startswith("```cpp") and not (i > 0 and marker.search(lines[i - 1])):
                print(f"{doc}:{i + 1}: a C++ block without a snippet marker (it must be code the tests compile)")
                failures += 1
    for i, line in enumerate(lines):
        m = marker.search(line)
        if not m:
            continue
        source, name = m.groups()
        text = (root / source).read_text()
        region = re.search(rf"// \[snippet:{re.escape(name)}\]\n(.*?)// \[/snippet:{re.escape(name)}\]", text, re.S)
        if not region:
            print(f"{doc}:{i + 1}: no snippet '{name}' in {source}")
            failures += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        k = j + 1
        while k < len(lines) and not lines[k].startswith("```"):
            k += 1
        shown = textwrap.dedent("\n".join(lines[j + 1:k])).strip()
        expected = textwrap.dedent(region.group(1)).strip()
        checked += 1
        if shown != expected:
            print(f"{doc}:{i + 1}: the snippet differs from {source} [{name}]")
            failures += 1
print(f"snippets: {checked - failures} passed, {failures} failed")
sys.exit(1 if failures or not checked else 0)
