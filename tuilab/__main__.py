"""`python -m tuilab` runs the CLI."""

from tuilab.cli import entry

entry()
