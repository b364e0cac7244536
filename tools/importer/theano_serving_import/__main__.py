"""`python3 -m theano_serving_import ...`: see cli.py."""

import sys

from theano_serving_import.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
