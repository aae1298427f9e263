"""The ``graphflow`` command line: the only code that prints, exits or configures logging."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``graphflow`` console script."""
    parser = argparse.ArgumentParser(
        prog="graphflow",
        description="Run tool calls as a dependency graph, each the moment its inputs are ready.",
    )
    parser.add_argument("--version", action="version", version=f"graphflow {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
