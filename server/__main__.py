"""``python -m server`` runs the ``palabre`` command line."""

from server.cli import main

main()
