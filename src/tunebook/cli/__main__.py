"""``python -m tunebook.cli``: the same as the ``tunebook`` console script."""

from tunebook.cli import main

main()
