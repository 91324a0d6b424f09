"""Print the shell command that follows a ``<!-- quickstart:NAME -->`` marker in README.md.

Used by ``.ci/run`` and by the test suite, so CI runs exactly what the README tells users to run.
"""

import pathlib
import re
import sys

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def readme_command(name: str, text: str | None = None) -> str:
    text = README.read_text(encoding="utf-8") if text is None else text
    pattern = rf"<!-- quickstart:{re.escape(name)} -->\s*```(?:bash|sh)?\n(.+?)\n```"
    match = re.search(pattern, text, flags=re.S)
    if match is None:
        raise SystemExit(f"README.md has no quickstart block named {name!r}")
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    if len(lines) != 1:
        raise SystemExit(f"quickstart block {name!r} must hold exactly one command line")
    return lines[0].strip()


if __name__ == "__main__":
    sys.stdout.write(readme_command(sys.argv[1]) + "\n")
