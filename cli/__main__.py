"""`python -m cli ...` runs the command line (tests and scripts start the worker this way)."""

from cli import run

run()
