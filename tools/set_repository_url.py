"""Point the project's links at its public home: the repository and the documentation.

The README is also the package's page on the index, where relative links break, so
every link in it is absolute. Two bases are written in a few places; this script
rewrites them all at once:

* the repository, e.g. ``https://github.com/OWNER/gaussmix`` (``[project.urls]``,
  ``docs/conf.py``'s ``REPOSITORY_URL``, the README's links to files and images,
  which use ``.../blob/main/`` and ``https://raw.githubusercontent.com/OWNER/gaussmix/main/``);
* the documentation site, e.g. ``https://gaussmix.readthedocs.io``.

``tests/test_readme.py`` checks that the README uses exactly the bases of
``[project.urls]`` and that the files and pages it points to exist.

Usage::

    python tools/set_repository_url.py --repository https://github.com/OWNER/gaussmix \\
        --docs https://OWNER.github.io/gaussmix
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FILES = ["README.md", "pyproject.toml", "docs/conf.py", "CONTRIBUTING.md"]


def current_bases() -> tuple[str, str]:
    """(repository, documentation) as [project.urls] states them."""
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    return urls["Source"].rstrip("/"), urls["Documentation"].rstrip("/")


def raw_base(repository: str) -> str:
    """Where a GitHub repository's files are served as they are (images)."""
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+)", repository)
    if not match:
        return repository + "/raw"
    return f"https://raw.githubusercontent.com/{match.group(1)}/{match.group(2)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repository", help="e.g. https://github.com/OWNER/gaussmix")
    parser.add_argument("--docs", help="e.g. https://gaussmix.readthedocs.io")
    args = parser.parse_args()
    old_repository, old_docs = current_bases()
    replacements = []
    if args.repository:
        new = args.repository.rstrip("/")
        replacements += [(raw_base(old_repository), raw_base(new)), (old_repository, new)]
    if args.docs:
        replacements.append((old_docs, args.docs.rstrip("/")))
    for name in FILES:
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        for old, new in replacements:
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    print("updated", ", ".join(FILES))


if __name__ == "__main__":
    main()
