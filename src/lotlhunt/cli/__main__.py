"""``python -m lotlhunt.cli``: the command, as a module (worker pools and tests use it)."""

from . import main

if __name__ == "__main__":  # not when a spawned worker process imports it again
    main()
