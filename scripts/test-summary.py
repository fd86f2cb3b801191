#!/usr/bin/env python3
"""Prints one closing line for the suites meson ran in the given build
directories: 'tests: N passed, N failed, N skipped'."""
import json
import sys

passed = failed = skipped = 0
for build in sys.argv[1:]:
    with open(f"{build}/meson-logs/testlog.json") as log:
        for line in log:
            result = json.loads(line)["result"]
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
