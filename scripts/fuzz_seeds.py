#!/usr/bin/env python3
"""Writes deep-nesting seeds for one fuzzer into a corpus directory (python3 standard library).

Usage: scripts/fuzz_seeds.py FUZZER_NAME DIR

Every parser fuzzer starts from these as well as its own corpus: JSON and TOML nested 100,000
levels deep (arrays, objects, inline tables), in the framing the fuzzer expects, plus URLs with
tens of thousands of segments. They are generated here rather than committed (each is ~200 KB).
"""
import pathlib
import sys

DEPTH = 100_000


def json_seeds():
    yield "deep-array.json", "[" * DEPTH + "1" + "]" * DEPTH
    yield "deep-object.json", '{"a":' * DEPTH + "1" + "}" * DEPTH
    yield "deep-mixed.json", '{"a":[' * (DEPTH // 2) + "1" + "]}" * (DEPTH // 2)
    yield "deep-in-field.json", '{"request_body":' + "[" * DEPTH + "]" * DEPTH + "}"


def toml_seeds():
    yield "deep-array.toml", "a = " + "[" * DEPTH + "1" + "]" * DEPTH + "\n"
    yield "deep-inline.toml", "a = " + "{b = " * DEPTH + "1" + "}" * DEPTH + "\n"
    yield "deep-tables.toml", "[" + ".".join(["t"] * DEPTH) + "]\nx = 1\n"
    yield "deep-array-of-tables.toml", "[[" + ".".join(["rules"] * (DEPTH // 4)) + "]]\nx = 1\n"
    yield "deep-dotted-key.toml", " . ".join(["a"] * DEPTH) + " = 1\n"
    yield "deep-dotted-inline.toml", "x = { " + ".".join(['"k"'] * DEPTH) + " = 1 }\n"


def url_seeds():
    yield "many-dots.txt", "https://www.googleapis.com" + "/a/.." * 20_000 + "/x"
    yield "many-slashes.txt", "https://www.googleapis.com" + "/" * 50_000 + "x"
    yield "deep-query.txt", "https://www.googleapis.com/x?q=" + "[" * DEPTH + "]" * DEPTH
    yield "long-host.txt", "https://" + "a." * 20_000 + "googleapis.com/x"


def seeds_for(name):
    if name in ("alter_policy_fuzz",):
        return list(json_seeds()) + list(toml_seeds())
    if name == "alter_config_fuzz":
        return list(toml_seeds())
    if name in ("alter_catalog_fuzz", "alter_json_body_fuzz"):
        return list(json_seeds())
    if name == "alter_vault_protocol_fuzz":  # two bytes of status, then the body
        return [(f, "\x01\x00" + s) for f, s in json_seeds()] + [(f + ".err", "\x03\x03" + s) for f, s in json_seeds()]
    if name == "alter_url_builder_fuzz":  # template, newline, value
        return [(f, s + "\n" + "../" * 10_000) for f, s in url_seeds()] + [("deep-value", "https://x/{id}\n" + "[" * DEPTH)]
    if name == "alter_url_guard_fuzz":
        return list(url_seeds())
    return list(json_seeds())


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for file_name, text in seeds_for(sys.argv[1]):
        (out / ("seed-" + file_name)).write_bytes(text.encode("utf-8", "surrogateescape"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
