"""``python -m framework0`` is ``f0``."""

from framework0.cli.main import main

if __name__ == "__main__":
    main()
