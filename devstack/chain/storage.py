"""How an aggregator holds its rounds: solc's `storageLayout` of a contract, and the storage words
that put rounds into a FluxAggregator or an OcrStyleAggregator exactly as the contract itself would."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from eth_utils import keccak

from devstack.chain.rpc import ChainError
from devstack.simulation.history import SimRound


class StorageLayout:
    """Where solc put a contract's state variables (its `storageLayout` output)."""

    def __init__(self, artifact: dict) -> None:
        self.variables = {v["label"]: v for v in artifact["storageLayout"]["storage"]}
        self.types = artifact["storageLayout"]["types"]

    def slot(self, label: str) -> int:
        return int(self.variables[label]["slot"])

    def field(self, label: str) -> tuple[int, int, int]:
        """(slot, byte offset, size in bytes) of a state variable."""
        v = self.variables[label]
        return int(v["slot"]), v["offset"], int(self.types[v["type"]]["numberOfBytes"])

    def mapping_entry(self, label: str, key: int, values: dict[str, int]) -> dict[int, int]:
        """The storage words of `mapping[key] = struct(values)` (a mapping with a value-type key)."""
        base = int.from_bytes(keccak(key.to_bytes(32, "big") + self.slot(label).to_bytes(32, "big")), "big")
        struct = self.types[self.types[self.variables[label]["type"]]["value"]]
        words: dict[int, int] = defaultdict(int)
        for member in struct["members"]:
            size = int(self.types[member["type"]]["numberOfBytes"])
            words[base + int(member["slot"])] = pack(
                words[base + int(member["slot"])], member["offset"], size, values[member["label"]]
            )
        return dict(words)


def pack(word: int, offset: int, size: int, value: int) -> int:
    """Put `value` (two's complement if negative) into bytes [offset, offset+size) of a storage word."""
    mask = (1 << (8 * size)) - 1
    if not -(1 << (8 * size - 1)) <= value <= mask:
        raise ChainError(f"{value} does not fit in {size} bytes")
    return (word & ~(mask << (8 * offset))) | ((value & mask) << (8 * offset))


def word(value: int) -> str:
    """A storage word as anvil_setStorageAt takes it."""
    return "0x" + value.to_bytes(32, "big").hex()


@dataclass
class Aggregator:
    """One deployed aggregator and the storage writes that hold its rounds."""

    address: str
    kind: str
    layout: StorageLayout
    header: int = 0  # the word holding the latest round id (read after deployment)
    header_slot: int = field(init=False)

    def __post_init__(self) -> None:
        self.header_slot = self.layout.slot("latestRoundId" if self.kind == "flux" else "latestAggregatorRoundId")

    def writes(self, rounds: list[SimRound]) -> dict[int, int]:
        """The words to write for rounds updated in one block, as the aggregator itself stores them."""
        words: dict[int, int] = {}
        for r in rounds:
            words |= self._flux_round(r) if self.kind == "flux" else self._ocr_round(r)
        words[self.header_slot] = self.header
        return words

    def _flux_round(self, r: SimRound) -> dict[int, int]:
        if not 1 <= r.answered_in_round <= r.aggregator_round:
            raise ChainError(f"{r}: a Flux round's answered_in_round must be in 1..its round")
        entry = {
            "answer": r.answer,
            "startedAt": r.started_at,
            "updatedAt": r.updated_at,
            "answeredInRound": r.answered_in_round,
        }
        # A timed-out round never becomes the latest: Flux only advances latestRoundId on an answer.
        self._set_header("reportingRoundId", r.aggregator_round)
        if not r.is_timed_out:
            self._set_header("latestRoundId", r.aggregator_round)
        return self.layout.mapping_entry("rounds", r.aggregator_round, entry)

    def _ocr_round(self, r: SimRound) -> dict[int, int]:
        if r.started_at != r.updated_at or r.is_timed_out:
            raise ChainError(f"{r}: an OCR round needs started_at == updated_at and answered_in_round == its round")
        self._set_header("latestAggregatorRoundId", r.aggregator_round)
        return self.layout.mapping_entry(
            "s_transmissions", r.aggregator_round, {"answer": r.answer, "timestamp": r.updated_at}
        )

    def _set_header(self, label: str, value: int) -> None:
        _, offset, size = self.layout.field(label)
        self.header = pack(self.header, offset, size, value)
