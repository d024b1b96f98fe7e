#!/usr/bin/env python3
"""Turns AWS's Signature Version 4 test suite into server/src/credentials/testdata/sigv4_vectors.json.

The suite (Apache License 2.0) is published with the AWS SDKs, for example in awslabs/aws-c-auth
under tests/aws-signing-test-suite/v4/: one directory per case with context.json (credentials,
region, service, time, options), request.txt (the HTTP request) and the expected canonical request,
string to sign, signature and signed request for header signing.

    python3 scripts/sigv4_vectors.py PATH/TO/aws-signing-test-suite/v4 > server/src/credentials/testdata/sigv4_vectors.json
"""
import json
import pathlib
import sys


def main() -> None:
    suite = pathlib.Path(sys.argv[1])
    cases = []
    for case in sorted(p for p in suite.iterdir() if p.is_dir()):
        def read(name: str) -> str:
            return (case / name).read_bytes().decode("utf-8")

        signed = read("header-signed-request.txt")
        authorization = next(line.split(":", 1)[1] for line in signed.splitlines() if line.lower().startswith("authorization:"))
        cases.append(
            {
                "name": case.name,
                "context": json.loads(read("context.json")),
                "request": read("request.txt"),
                "canonical_request": read("header-canonical-request.txt"),
                "string_to_sign": read("header-string-to-sign.txt"),
                "signature": read("header-signature.txt").strip(),
                "authorization": authorization,
            }
        )
    json.dump(
        {
            "source": "AWS Signature Version 4 test suite (Apache License 2.0), as published in "
            "github.com/awslabs/aws-c-auth tests/aws-signing-test-suite/v4",
            "cases": cases,
        },
        sys.stdout,
        indent=1,
        ensure_ascii=False,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
