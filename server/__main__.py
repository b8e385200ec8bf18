"""``python -m server`` runs the ``palabre`` command line."""

from server.app.cli import main

if __name__ == "__main__":  # not when a worker process loads this module
    main()
