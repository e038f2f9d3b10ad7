"""Bundled ABIs (only the functions the pipeline calls), loaded once, with fast encode/decode."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eth_abi import decode, encode
from eth_utils import function_abi_to_4byte_selector

_DIR = Path(__file__).parent


def _types(params: list[dict]) -> list[str]:
    out = []
    for p in params:
        if p["type"].startswith("tuple"):
            out.append("(" + ",".join(_types(p["components"])) + ")" + p["type"][len("tuple") :])
        else:
            out.append(p["type"])
    return out


@dataclass(frozen=True)
class Function:
    """One ABI function: its selector and argument/result types."""

    name: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def encode(self, *args: object) -> bytes:
        return self.selector + encode(list(self.inputs), list(args))

    def decode(self, data: bytes) -> tuple:
        return decode(list(self.outputs), data)


def _load(name: str) -> dict[str, Function]:
    abi = json.loads((_DIR / name).read_text())
    return {
        item["name"]: Function(
            item["name"],
            function_abi_to_4byte_selector(item),
            tuple(_types(item["inputs"])),
            tuple(_types(item["outputs"])),
        )
        for item in abi
        if item["type"] == "function"
    }


PROXY = _load("chainlink_proxy.json")
MULTICALL3 = _load("multicall3.json")
MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"  # the same on every chain it is deployed on
ZERO_ADDRESS = "0x" + "0" * 40  # what phaseAggregators() answers for a phase that does not exist
