#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A strict checker of the Prometheus text exposition format (version 0.0.4)
for tests: every sample belongs to a family announced by # HELP and # TYPE
before it, names and labels are well formed, values are numbers, a family
is not split, and no series repeats.  Prints the samples as JSON with -j."""
import json
import re
import sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*\Z')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def fail(lineno, msg):
    sys.exit(f"promcheck: line {lineno}: {msg}")


def parse_labels(text, lineno):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            fail(lineno, f"bad label set {{{text}}}")
        if m.group(1) in labels:
            fail(lineno, f"label {m.group(1)} repeated")
        labels[m.group(1)] = m.group(2)
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                fail(lineno, f"expected ',' in labels {{{text}}}")
            pos += 1
    return labels


def check(text):
    helps, types, seen, closed, samples = {}, {}, set(), set(), []
    current = None
    if not text.endswith("\n"):
        fail(0, "the file does not end with a newline")
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not NAME.match(parts[2]):
                fail(lineno, f"bad comment line: {line}")
            name = parts[2]
            if name in closed:
                fail(lineno, f"family {name} split")
            if current and current != name:
                closed.add(current)
            current = name
            table = helps if parts[1] == "HELP" else types
            if name in table:
                fail(lineno, f"second # {parts[1]} for {name}")
            if parts[1] == "TYPE" and parts[3] not in TYPES:
                fail(lineno, f"bad type {parts[3]}")
            table[name] = parts[3]
            continue
        if line.startswith("#") or not line.strip():
            fail(lineno, f"unexpected line: {line!r}")
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)\Z', line)
        if not m:
            fail(lineno, f"bad sample line: {line!r}")
        name, labels = m.group(1), parse_labels(m.group(3) or "", lineno)
        if name != current or name not in types or name not in helps:
            fail(lineno, f"sample {name} outside its announced family")
        try:
            value = float(m.group(4))
        except ValueError:
            fail(lineno, f"bad value {m.group(4)}")
        if types[name] == "counter" and value < 0:
            fail(lineno, f"negative counter {name}")
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            fail(lineno, f"series repeated: {line}")
        seen.add(key)
        samples.append({"name": name, "labels": labels, "value": value})
    if not samples:
        fail(0, "no samples")
    return samples


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "-j"]
    with open(args[0], encoding="utf-8") as f:
        samples = check(f.read())
    if "-j" in sys.argv:
        json.dump(samples, sys.stdout)
    else:
        print(f"promcheck: {len(samples)} samples, format valid")
