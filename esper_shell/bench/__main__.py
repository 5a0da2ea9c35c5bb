"""`python -m esper_shell.bench overhead [--channels-last] [--repeats N]`."""

from __future__ import annotations

import argparse

from esper_shell.bench import overhead


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m esper_shell.bench")
    parser.add_argument("benchmark", choices=["overhead"])
    parser.add_argument("--repeats", type=int, default=overhead.OverheadConfig().repeats)
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()
    print(overhead.report(overhead.OverheadConfig(repeats=args.repeats, channels_last=args.channels_last)))


if __name__ == "__main__":
    main()
