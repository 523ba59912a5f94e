"""``python -m datamill``: the same CLI as the ``datamill`` command."""

from datamill.cli.main import main

if __name__ == "__main__":
    main()
