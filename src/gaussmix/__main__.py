"""``python -m gaussmix``: the command line tool (see :mod:`gaussmix.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
