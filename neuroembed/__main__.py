"""``python -m neuroembed``: the same command line as ``neuroembed``."""

from neuroembed.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
