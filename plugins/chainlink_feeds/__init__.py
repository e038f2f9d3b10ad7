"""Chainlink price feeds for Airflow: the feed registry, a hook for RPC endpoints and the operator."""
