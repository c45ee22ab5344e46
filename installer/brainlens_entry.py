"""Entry point of the bundled app: BrainLens' own ``main`` under the start-up guard.

The import of ``app.__main__`` happens inside the guard, so a bundle that lacks a module (or a
library a module needs) shows an error dialog and writes a log instead of closing silently.
"""

import multiprocessing
import sys

from app._startup import run_guarded


def _main() -> int | None:
    from app.__main__ import main

    return main()


if __name__ == "__main__":
    multiprocessing.freeze_support()  # a no-op unless the app ever starts worker processes
    sys.exit(run_guarded(_main))
