"""``python -m optbench`` runs the command line (same as the ``optbench`` script)."""

from optbench.cli import main

main()
