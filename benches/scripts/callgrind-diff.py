#!/usr/bin/env python3
"""Instructions per report by function, of two runs of `intake-counts.sh callgrind`.

    benches/scripts/callgrind-diff.py BEFORE/callgrind.out AFTER/callgrind.out COUNT [ROWS]

Prints the totals per report (and without memset/memcpy, which valgrind counts per byte
of a `rep` string instruction, so that zeroing 8 KiB shows as 8,192 instructions), then
the functions whose own instructions per report changed most.
"""
import collections
import re
import sys


def load(path):
    """Exclusive instruction counts by function name of a callgrind output file."""
    names = {}
    own = collections.Counter()
    function = None
    call_follows = False

    def name(token):
        m = re.match(r"\((\d+)\)(?: (.*))?", token)
        if not m:
            return token
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), token)

    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("fn="):
            function = name(line[3:])
        elif line.startswith("cfn="):
            name(line[4:])
        elif line.startswith("calls="):
            # The next cost line is the call's inclusive cost, not this function's own.
            call_follows = True
        elif line and (line[0].isdigit() or line[0] in "+-*"):
            parts = line.split()
            if call_follows:
                call_follows = False
            elif len(parts) >= 2 and function is not None:
                own[function] += int(parts[1])
    return own


def main():
    before, after = load(sys.argv[1]), load(sys.argv[2])
    count = float(sys.argv[3])
    rows = int(sys.argv[4]) if len(sys.argv) > 4 else 30
    for label, own in (("before", before), ("after", after)):
        total = sum(own.values())
        strings = sum(v for k, v in own.items() if re.search(r"memset|memcpy|memmove", k))
        print(f"{label}: {total / count:,.0f} per report, {(total - strings) / count:,.0f} without memset/memcpy")
    changed = sorted(set(before) | set(after), key=lambda k: -abs(after[k] - before[k]))
    for k in changed[:rows]:
        print(f"{before[k] / count:10,.0f} {after[k] / count:10,.0f} {(after[k] - before[k]) / count:+10,.0f}  {k[:140]}")


if __name__ == "__main__":
    main()
