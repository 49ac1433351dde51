"""The ``streamsim`` command line. Each sub-command lives in the module that owns it and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them together, importing each
module when its command runs so that ``streamsim --help`` stays fast.

Errors a user can fix are ``StreamsimError``s: printed as one line, exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from streamsim.errors import StreamsimError

# command -> (module, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("streamsim.commands.convert", "convert a public dataset into the generic format"),
    "evaluate": ("streamsim.commands.evaluate", "measure the simulator's fidelity on a dataset"),
    "demo": ("streamsim.commands.demo", "evaluate on the bundled MovieLens latest-small (the main job)"),
    "bench": ("streamsim.commands.bench", "print throughput figures as JSON (core or stream)"),
    "annotate": ("streamsim.analysis.annotate", "analyse items with an LLM (OpenAI-compatible)"),
    "topics": ("streamsim.stream.cli_topics", "create the Kafka topics from topics/"),
    "worker": ("streamsim.stream.cli_worker", "run the Faust worker (recommendations in, feedback out)"),
    "replay": ("streamsim.stream.cli_replay", "publish a dataset to Kafka as events"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    return (f"usage: streamsim COMMAND [options]\n\ncommands:\n{rows}\n\n"
            "`streamsim COMMAND --help` for options")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"streamsim: error: unknown command '{command}'\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_ = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"streamsim {command}", description=help_)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except StreamsimError as e:
        print(f"streamsim {command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"streamsim {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
