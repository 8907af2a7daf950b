"""``python -m uadbench`` is the ``uadbench`` command."""

from uadbench.cli import main

main()
