"""The living chain: an oracle service that publishes rounds at wall-clock time after the history ends.

`market` is the simulated market (the history's walk continued, plus moves), `rule` decides when a
round is due, `publisher` writes rounds onto the node and `service` runs it in the background;
`python -m devstack.oracle serve|move|status` is its command line.
"""
