"""Build the local stack's contracts from Chainlink's npm packages with the solcjs their pragmas ask for.

Mainnet's stablecoin feeds were deployed from Chainlink's 0.6 sources: an `EACAggregatorProxy`
whose first phase is a `FluxAggregator`. Those come from `@chainlink/contracts` 0.1.7 (`src/v0.6`,
compiled by solcjs 0.6.6, the version their pragmas pin), with the 0.6 `MockV3Aggregator` for
tests that write rounds through transactions and the project's `OcrStyleAggregator` (see its
header) for the OCR phase. `Multicall3` and Arbitrum's L2 sequencer uptime feed (the
`ArbitrumSequencerUptimeFeed`, its `Flags` and their `SimpleWriteAccessController`; see
devstack.chain.sequencer) come from the 1.5.0 package, compiled by solcjs 0.8.26.
Nothing compiled is committed: `npm pack` fetches each pinned, integrity-checked package and the
solcjs packages in node_modules (aliases in package.json) compile them. solc's `storageLayout` is
kept so the stack can write rounds into the aggregators' storage.

The sources and the compiler script stay in `devstack/contracts/`: a source's path is part of the
metadata solc appends to the bytecode, so moving it would change every stack's contracts (and
the history fingerprint that decides a replay).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devstack.chain.transactions import Build
from devstack.settings import BUILD_DIR, PROJECT_DIR

CHAINLINK_PACKAGE = "@chainlink/contracts"
CHAINLINK_PREFIX = "@chainlink/contracts/"
# Package version -> the npm registry's integrity of its tarball.
CHAINLINK_INTEGRITY = {
    "0.1.7": "sha512-txVkGrwFYnyLUC/I5hTe7yZK7fjmB6YFULfBHqryRuREUmGd4bdpXfrcUUsZycmWibanp69QVyQBpsDrPhWsjw==",
    "1.5.0": "sha512-1fGJwjvivqAxvVOTqZUEXGR54CATtg0vjcXgSIk4Cfoad2nUhSG/qaWHXjLg1CkNTeOoteoxGQcpP/HiA5HsUA==",
}


@dataclass(frozen=True)
class CompileUnit:
    """Sources compiled together: one solc version, one Chainlink package behind `@chainlink/contracts/`."""

    solc: str  # the compiler version every pragma must accept
    solc_package: str  # its package in node_modules
    chainlink: str
    evm_version: str
    contracts: dict[str, str]  # contract name -> source path (Chainlink's, or the project's)


# The local node's fork (devstack.chain.node runs anvil with it): nothing may be compiled for a later one.
NODE_EVM_VERSION = "shanghai"
UNITS = (
    CompileUnit(
        solc="0.6.6",
        solc_package="solc-0.6.6",
        chainlink="0.1.7",
        evm_version="istanbul",
        contracts={
            "EACAggregatorProxy": "@chainlink/contracts/src/v0.6/EACAggregatorProxy.sol",
            "FluxAggregator": "@chainlink/contracts/src/v0.6/FluxAggregator.sol",
            "MockV3Aggregator": "@chainlink/contracts/src/v0.6/tests/MockV3Aggregator.sol",
            "OcrStyleAggregator": "devstack/contracts/OcrStyleAggregator.sol",
        },
    ),
    CompileUnit(
        solc="0.8.26",
        solc_package="solc",
        chainlink="1.5.0",
        evm_version="shanghai",  # the local node runs shanghai (see devstack.chain.node); cancun code would not run there
        contracts={
            "Multicall3": "@chainlink/contracts/src/v0.8/vendor/multicall/ebd8b64/src/Multicall3.sol",
            "ArbitrumSequencerUptimeFeed": "@chainlink/contracts/src/v0.8/l2ep/arbitrum/ArbitrumSequencerUptimeFeed.sol",
            "Flags": "@chainlink/contracts/src/v0.8/l2ep/Flags.sol",
            "SimpleWriteAccessController": "@chainlink/contracts/src/v0.8/shared/access/SimpleWriteAccessController.sol",
        },
    ),
)
ARTIFACTS = BUILD_DIR / "contracts.json"
COMPILER = PROJECT_DIR / "devstack" / "contracts" / "compile.cjs"

_IMPORT = re.compile(r'^\s*import\s+(?:[^"\']*from\s+)?["\']([^"\']+)["\']\s*;', re.MULTILINE)
_PRAGMA = re.compile(r"^\s*pragma\s+solidity\s+([^;]+);", re.MULTILINE)


class ContractBuildError(RuntimeError):
    """The contracts could not be fetched or compiled."""


def package_dir(version: str) -> Path:
    """Fetch and unpack a pinned Chainlink package (once), checking its integrity."""
    if version not in CHAINLINK_INTEGRITY:
        raise ContractBuildError(f"{CHAINLINK_PACKAGE}@{version} is not pinned in CHAINLINK_INTEGRITY")
    return npm_package_dir(CHAINLINK_PACKAGE, version, CHAINLINK_INTEGRITY[version])


def npm_package_dir(package: str, version: str, integrity: str) -> Path:
    """Fetch and unpack a pinned npm package (once) under BUILD_DIR, refusing a tarball whose
    sha512 is not the registry's `integrity` for that version."""
    stem = f"{package.lstrip('@').replace('/', '-')}-{version}"  # npm pack's own file name
    target = BUILD_DIR / stem
    if (target / "package.json").exists():
        return target
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    tarball = BUILD_DIR / f"{stem}.tgz"
    if not tarball.exists():
        # Packed apart, then renamed into place whole: test workers fetch at once, and one must never
        # read (or unpack) a tarball another is still writing.
        fetched = Path(tempfile.mkdtemp(prefix=f"{stem}.", suffix=".fetch", dir=BUILD_DIR))
        subprocess.run(
            ["npm", "pack", f"{package}@{version}", "--pack-destination", str(fetched)],
            check=True,
            capture_output=True,
            text=True,
        )
        os.replace(fetched / tarball.name, tarball)
        fetched.rmdir()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != integrity:
        tarball.unlink()
        raise ContractBuildError(f"{tarball.name}: integrity {digest} does not match the pinned {integrity}")
    staging = BUILD_DIR / f"{stem}.{os.getpid()}.partial"  # one per process: test workers may fetch at once
    with tarfile.open(tarball) as archive:
        archive.extractall(staging, filter="data")
    try:
        (staging / "package").rename(target)
    except OSError:
        if not (target / "package.json").exists():
            raise
        shutil.rmtree(staging / "package")  # another process unpacked the same tarball first
    staging.rmdir()
    return target


def _resolve(path: str, chainlink_root: Path) -> Path:
    if path.startswith(CHAINLINK_PREFIX):
        return chainlink_root / path[len(CHAINLINK_PREFIX) :]
    return PROJECT_DIR / path


def _check_pragma(source_name: str, text: str, solc: str) -> None:
    """Fail if solc version `solc` does not satisfy the file's pragma (exact, caret and >= ranges)."""
    have = tuple(int(x) for x in solc.split("."))
    for constraint in _PRAGMA.findall(text):
        for term in constraint.split():
            op = re.match(r"^(\^|>=|=)?(\d+)\.(\d+)\.(\d+)$", term)
            if not op:
                raise ContractBuildError(f"{source_name}: unsupported pragma {constraint!r}")
            want = tuple(int(x) for x in op.group(2, 3, 4))
            ok = {
                None: have == want,
                "=": have == want,
                "^": have[:2] == want[:2] and have >= want,
                ">=": have >= want,
            }[op.group(1)]
            if not ok:
                raise ContractBuildError(f"{source_name}: pragma {constraint!r} is not met by solc {solc}")


def collect_sources(entries: list[str], chainlink_root: Path, solc: str) -> dict[str, dict[str, str]]:
    """Every source the entries import, keyed by import path, for a standard-JSON input."""
    sources: dict[str, dict[str, str]] = {}
    pending = list(entries)
    while pending:
        name = pending.pop()
        if name in sources:
            continue
        text = _resolve(name, chainlink_root).read_text()
        _check_pragma(name, text, solc)
        sources[name] = {"content": text}
        for imported in _IMPORT.findall(text):
            if imported.startswith("."):
                imported = posixpath.normpath(posixpath.join(posixpath.dirname(name), imported))
            pending.append(imported)
    return sources


def _compile(unit: CompileUnit) -> dict[str, dict]:
    if not (PROJECT_DIR / "node_modules" / unit.solc_package).exists():
        raise ContractBuildError(f"node_modules/{unit.solc_package} is missing: run `npm ci` first")
    request = {
        "language": "Solidity",
        "sources": collect_sources(list(unit.contracts.values()), package_dir(unit.chainlink), unit.solc),
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": unit.evm_version,
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "storageLayout"]}
            },
        },
    }
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    request_file = BUILD_DIR / f"solc-{unit.solc}-input.json"
    output_file = BUILD_DIR / f"solc-{unit.solc}-output.json"
    request_file.write_text(json.dumps(request))
    proc = subprocess.run(
        ["node", str(COMPILER), unit.solc_package, str(request_file), str(output_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise ContractBuildError(f"solcjs {unit.solc} failed: {proc.stderr[-2000:]}")
    output = json.loads(output_file.read_text())
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ContractBuildError(f"solcjs {unit.solc} reported errors:\n" + "\n".join(errors))
    artifacts = {}
    for name, source in unit.contracts.items():
        compiled = output["contracts"][source][name]
        artifacts[name] = {
            "source": source,
            "solc": unit.solc,
            "chainlink_contracts": unit.chainlink,
            "abi": compiled["abi"],
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
            "storageLayout": compiled["storageLayout"],
        }
    return artifacts


def _units() -> list:
    """What the artifacts are built from (the project's own sources by digest), so a change rebuilds them."""
    own = {
        path: hashlib.sha256((PROJECT_DIR / path).read_bytes()).hexdigest()
        for unit in UNITS
        for path in unit.contracts.values()
        if not path.startswith(CHAINLINK_PREFIX)
    }
    return [[[u.solc, u.chainlink, u.evm_version, sorted(u.contracts)] for u in UNITS], own]


def build(force: bool = False) -> dict[str, dict]:
    """Compile the contracts into `.stack/build/contracts.json` and return the artifacts by contract name."""
    if ARTIFACTS.exists() and not force:
        artifacts = json.loads(ARTIFACTS.read_text())
        if artifacts.get("_units") == _units():
            return artifacts
    artifacts = {}
    for unit in UNITS:
        artifacts |= _compile(unit)
    artifacts["_units"] = _units()
    ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = ARTIFACTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(artifacts))
    tmp.replace(ARTIFACTS)
    return artifacts


CHAINLINK = Build(build)  # calls to the stack's own contracts, encoded from this build's ABIs
