"""The local Ethereum node and what it holds: Foundry's anvil (`node`), its JSON-RPC (`rpc`), Chainlink's
contracts (`contracts`), how a round sits in an aggregator's storage (`storage`), writing rounds and
phase switches at their times (`replay`), and the stack's simulated history on it (`stack_history`)."""
