"""`python -m devstack ...`: the stack's command line (devstack.cli)."""

from devstack.cli import main

main()
