"""The histories the chain replays: the deterministic simulated one (`history`), real recorded mainnet
rounds (`recorded`), and the ground truth of one day (`truth`). Pure data: nothing here talks to a node."""
