#!/usr/bin/env python3
"""Prints what a test run cost and how it ended, from meson's testlog.json:
the 10 slowest tests with their durations, then one closing line,
'tests: N passed, N failed, N skipped'.
Usage: summarize-tests.py TESTLOG [SLOWEST]"""
import json
import sys

counts = {"passed": 0, "failed": 0, "skipped": 0}
durations = []
with open(sys.argv[1]) as log:
    for line in log:
        entry = json.loads(line)
        result = entry.get("result")
        durations.append((entry.get("duration", 0.0), entry.get("name", "?"), result))
        if result in ("OK", "EXPECTEDFAIL"):
            counts["passed"] += 1
        elif result == "SKIP":
            counts["skipped"] += 1
        else:
            counts["failed"] += 1
slowest = int(sys.argv[2]) if len(sys.argv) > 2 else 10
durations.sort(reverse=True)
print(f"slowest {min(slowest, len(durations))} of {len(durations)} tests "
      f"({sum(d for d, _, _ in durations):.0f} s of test time in all):")
for duration, name, result in durations[:slowest]:
    print(f"  {duration:7.1f} s  {name}{'' if result in ('OK', 'SKIP') else '  ' + str(result)}")
print(f"tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
