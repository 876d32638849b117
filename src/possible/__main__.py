"""``python -m possible``: the same command line as the ``possible`` console script."""

from possible.cli import main

if __name__ == "__main__":
    main()
