"""The embedded local stack: a simulated Ethereum node with Chainlink feeds and a Snowflake emulator.

Nothing here is deployed: it exists so the same DAG code can run offline on a laptop or in CI.
"""
