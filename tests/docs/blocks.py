#!/usr/bin/env python3
"""Prints the fenced code blocks of a Markdown page, for the docs tests (python3 standard library).

Usage:
  blocks.py FILE list                    one line per block: index, language, marker
  blocks.py FILE get INDEX               the block's text, exactly as printed
  blocks.py FILE marked MARKER           the text of the block right after <!-- docs-test: MARKER -->
  blocks.py FILE script [--skip MARKER]  every `sh` block, in order, joined into one script; blocks
                                         whose marker is given with --skip are left out (repeatable)

A marker is an HTML comment on the line right before a fence: `<!-- docs-test: NAME -->` (or the
older `<!-- needs Google -->`, read as the marker `needs-google`). A page's tests decide what each
marker means; an unmarked `sh` block is always run.
"""
import re
import sys

FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)\s*$")
MARKER = re.compile(r"^<!--\s*docs-test:\s*([A-Za-z0-9_.+-]+)\s*-->\s*$")


def blocks(path):
    out = []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    marker = ""
    while i < len(lines):
        line = lines[i]
        m = MARKER.match(line)
        if m:
            marker = m.group(1)
            i += 1
            continue
        if line.strip() == "<!-- needs Google -->":
            marker = "needs-google"
            i += 1
            continue
        f = FENCE.match(line)
        if f and f.group(1):
            lang = f.group(1)
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append({"index": len(out), "lang": lang, "marker": marker, "text": "\n".join(body) + "\n"})
            marker = ""
        elif line.strip():
            marker = ""
        i += 1
    return out


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, command, rest = argv[1], argv[2], argv[3:]
    found = blocks(path)
    if command == "list":
        for b in found:
            print(f"{b['index']}\t{b['lang']}\t{b['marker']}")
        return 0
    if command == "get":
        sys.stdout.write(found[int(rest[0])]["text"])
        return 0
    if command == "marked":
        matches = [b for b in found if b["marker"] == rest[0]]
        if len(matches) != 1:
            print(f"{path}: {len(matches)} blocks marked {rest[0]!r}, expected 1", file=sys.stderr)
            return 1
        sys.stdout.write(matches[0]["text"])
        return 0
    if command == "script":
        skip = {rest[i + 1] for i in range(len(rest) - 1) if rest[i] == "--skip"}
        for b in found:
            if b["lang"] == "sh" and b["marker"] not in skip:
                sys.stdout.write(b["text"] + "\n")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
