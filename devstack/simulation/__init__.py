"""The histories the chain replays: the deterministic simulated one (`history`), real recorded mainnet
rounds (`recorded`), the ground truth of one day (`truth`), and a wide SIMULATED feed registry
(`registry`). Pure data: nothing here talks to a node."""
