"""``python -m vamer.cli``: the ``vamer`` command."""

from vamer.cli import main

main()
