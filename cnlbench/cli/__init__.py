"""The ``cnlbench`` command line: a thin front end over the layers.

Each verb is one module in this package exposing ``NAME`` (the verb), ``HELP`` (one line),
``DESCRIPTION`` (the ``--help`` text), ``add_arguments(parser)`` and ``run(args) -> int``.
Verbs are discovered from the package, so adding one never touches this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType
from typing import Sequence

from cnlbench import __version__
from cnlbench.errors import CnlbenchError


def _verb_modules() -> list[ModuleType]:
    mods = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnlbench",
        description=(
            "Controlled label-noise benchmarks: build noisy splits whose noise is known exactly "
            "(as Hugging Face dataset folders), train noisy-label methods across noise levels and "
            "seeds, and publish leaderboards with 95% confidence intervals. "
            "Run `cnlbench VERB --help` for each verb."
        ),
    )
    parser.add_argument("--version", action="version", version=f"cnlbench {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for mod in sorted(_verb_modules(), key=lambda m: m.NAME):
        p = sub.add_parser(
            mod.NAME,
            help=mod.HELP.replace("%", "%%"),  # argparse %-formats help strings
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        p.set_defaults(run_verb=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run_verb(args) or 0)
    except (CnlbenchError, FileNotFoundError) as exc:
        print(f"cnlbench {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cnlbench {args.verb}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
