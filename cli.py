"""Run the audiodiff CLI from a checkout: `python cli.py --help`."""

from audiodiff.cli import main

if __name__ == "__main__":
    main()
