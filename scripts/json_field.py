#!/usr/bin/env python3
"""Prints fields of a JSON document, one per line, for the shell scripts.

Usage: scripts/json_field.py FILE|- KEY...

FILE is the document (- reads stdin), such as the server's --port_file ({"grpc": N,
"metrics": M}) or the --json output of theano-serving-cli bench / theano-serving-model bench.
KEY is a key of the top-level object or a dotted path into nested objects ("errors.UNAVAILABLE").
Strings and numbers print as they are, anything else as compact JSON. Exits 1, with a message on
stderr, if the document cannot be read or parsed or a key is missing.
"""

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    source, keys = argv[1], argv[2:]
    try:
        if source == "-":
            document = json.load(sys.stdin)
        else:
            with open(source, encoding="utf-8") as f:
                document = json.load(f)
    except (OSError, ValueError) as e:
        print(f"json_field.py: {source}: {e}", file=sys.stderr)
        return 1
    for key in keys:
        value = document
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                print(f"json_field.py: {source}: no key {key!r}", file=sys.stderr)
                return 1
            value = value[part]
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            print(value)
        else:
            print(json.dumps(value, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
