"""Helpers shared by the tests: a scratch chain, a faulty RPC proxy, emulator schemas."""
