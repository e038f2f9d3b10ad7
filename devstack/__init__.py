"""The embedded local stack: a simulated Ethereum node with Chainlink feeds and a Snowflake emulator.

Nothing here is deployed: it exists so the same DAG code can run offline on a laptop or in CI.
Each folder is one room: `chain/` (the node, its contracts and the replay), `simulation/` (the
simulated and recorded histories), `oracle/` (the living chain), `services/` (the processes the
stack runs: fakesnow, Postgres, Redis, the alert inbox, the dashboard) and `cluster/` (Airflow, in
the Celery shape or standalone). `settings.py` holds the ports and paths, `cli.py` the commands.
"""
