"""``python -m graphflow.cli``: the console script, runnable from a source tree."""

from graphflow.cli import run_main

if __name__ == "__main__":
    run_main()
