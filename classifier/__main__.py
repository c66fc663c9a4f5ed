"""``python -m classifier``: the same as the ``coercion-classifier`` command."""

from .cli import cli

if __name__ == "__main__":
    cli(prog_name="coercion-classifier")
