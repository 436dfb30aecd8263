"""Entry point: ``python -m bench [NAME ...] [--quick]``."""

import argparse
import sys

from bench.before import COMPARED
from bench.runner import run


def main() -> int:
    """Parse arguments and run the benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="run at a tenth of the size")
    parser.add_argument("--no-before", dest="before", action="store_false",
                        help="do not measure the commit before their issue beside "
                             f"{', '.join(COMPARED)}")
    args = parser.parse_args()
    return run(args.names, args.quick, before=args.before)


if __name__ == "__main__":
    sys.exit(main())
