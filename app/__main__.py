"""``brainlens``: no arguments (or a scan path) opens the window; ``brainlens classify ...`` is the CLI.

    brainlens                      the GUI
    brainlens PATH                 the GUI, opening PATH
    brainlens classify PATH...     batch classification in the terminal (see ``app.cli``)
    brainlens audit verify [LOG]   check the audit log's hash chain
    brainlens pacs echo|find|retrieve|send|add|nodes …   talk to a configured PACS (see ``app.cli_pacs``)
    brainlens --self-test          load the model, classify the bundled sample, exit 0 if all is well
    brainlens --version
``python -m app`` is the same.
"""

from __future__ import annotations

import sys

USAGE = (
    "usage: brainlens [PATH]                 open the BrainLens window\n"
    "       brainlens classify PATH... [...]  classify files/folders in the terminal (classify -h)\n"
    "       brainlens audit verify [LOG]      check the hash chain of the audit log (audit path: where it is)\n"
    "       brainlens pacs echo|find|retrieve|send|add|nodes ...   query, retrieve from, send to a PACS (pacs -h)\n"
    "       brainlens --self-test [--model FILE]\n"
    "       brainlens --version"
)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = argv[0] if argv else ""
    if first == "classify":
        from app import cli

        return cli.main(argv[1:])
    if first == "pacs":
        from app.cli_pacs import main as pacs_main

        return pacs_main(argv[1:])
    if first == "audit":
        from app.core.reports.audit import main as audit_main

        return audit_main(argv[1:])
    if first in ("--version", "-V"):
        from app.core.version import app_version

        print(f"BrainLens {app_version()}")
        return 0
    if first in ("-h", "--help"):
        print(USAGE)
        return 0
    if first == "--self-test":
        from pathlib import Path

        from app.cli import self_test

        model = Path(argv[2]) if len(argv) >= 3 and argv[1] == "--model" else None
        return self_test(model)
    if first.startswith("-"):
        print(f"brainlens: unknown option {first}\n{USAGE}", file=sys.stderr)
        return 2
    return _gui(argv)


NO_DISPLAY = ("brainlens: no display was found, so the BrainLens window cannot open here (no DISPLAY or "
              "WAYLAND_DISPLAY; e.g. an SSH session).\nTo classify scans in this terminal, run "
              "`brainlens classify PATH...` (see `brainlens classify -h`).")


def no_display(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """True on Linux without a graphical session, unless Qt was told to draw elsewhere (offscreen)."""
    import os

    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return False
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _gui(argv: list[str]) -> int:
    from app._startup import run_guarded

    if no_display():  # Qt would abort with "could not connect to display"
        print(NO_DISPLAY, file=sys.stderr)
        return 2

    try:
        from app.ui.main import main as gui_main
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("app.ui.main"):
            print("The BrainLens window is not available in this build yet; "
                  "use `brainlens classify PATH...` meanwhile.", file=sys.stderr)
            return 1
        raise
    return run_guarded(lambda: gui_main(argv), argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
