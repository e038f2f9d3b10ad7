"""Build the local stack's contracts from Chainlink's npm package with the solcjs its pragmas ask for.

Nothing compiled is committed: `npm pack` fetches the pinned, integrity-checked package and
solcjs (from node_modules) compiles the proxy, the mock aggregator and Multicall3.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
import subprocess
import tarfile
from pathlib import Path

from devstack.settings import BUILD_DIR, PROJECT_DIR

CHAINLINK_PACKAGE = "@chainlink/contracts"
CHAINLINK_VERSION = "1.5.0"
CHAINLINK_INTEGRITY = "sha512-1fGJwjvivqAxvVOTqZUEXGR54CATtg0vjcXgSIk4Cfoad2nUhSG/qaWHXjLg1CkNTeOoteoxGQcpP/HiA5HsUA=="
SOLC_VERSION = "0.8.26"
CHAINLINK_PREFIX = "@chainlink/contracts/"

# Contract name -> source path (Chainlink's own, except DescribedAggregator, see its header).
CONTRACTS = {
    "DataFeedsLegacyAggregatorProxy": "@chainlink/contracts/src/v0.8/data-feeds/test/helpers/DataFeedsLegacyAggregatorProxy.sol",
    "MockV3Aggregator": "@chainlink/contracts/src/v0.8/shared/mocks/MockV3Aggregator.sol",
    "Multicall3": "@chainlink/contracts/src/v0.8/vendor/multicall/ebd8b64/src/Multicall3.sol",
    "DescribedAggregator": "devstack/contracts/DescribedAggregator.sol",
}
ARTIFACTS = BUILD_DIR / "contracts.json"
COMPILER = Path(__file__).parent / "contracts" / "compile.cjs"

_IMPORT = re.compile(r'^\s*import\s+(?:[^"\']*from\s+)?["\']([^"\']+)["\']\s*;', re.MULTILINE)
_PRAGMA = re.compile(r"^\s*pragma\s+solidity\s+([^;]+);", re.MULTILINE)


class ContractBuildError(RuntimeError):
    """The contracts could not be fetched or compiled."""


def package_dir() -> Path:
    """Fetch and unpack the pinned Chainlink package (once), checking its integrity."""
    target = BUILD_DIR / f"chainlink-contracts-{CHAINLINK_VERSION}"
    if (target / "package.json").exists():
        return target
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    tarball = BUILD_DIR / f"chainlink-contracts-{CHAINLINK_VERSION}.tgz"
    if not tarball.exists():
        subprocess.run(
            ["npm", "pack", f"{CHAINLINK_PACKAGE}@{CHAINLINK_VERSION}", "--pack-destination", str(BUILD_DIR)],
            check=True,
            capture_output=True,
            text=True,
        )
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != CHAINLINK_INTEGRITY:
        tarball.unlink()
        raise ContractBuildError(f"{tarball.name}: integrity {digest} does not match the pinned {CHAINLINK_INTEGRITY}")
    staging = target.with_suffix(".partial")
    with tarfile.open(tarball) as archive:
        archive.extractall(staging, filter="data")
    (staging / "package").rename(target)
    staging.rmdir()
    return target


def _resolve(path: str, chainlink_root: Path) -> Path:
    if path.startswith(CHAINLINK_PREFIX):
        return chainlink_root / path[len(CHAINLINK_PREFIX) :]
    return PROJECT_DIR / path


def _check_pragma(source_name: str, text: str) -> None:
    """Fail if the pinned solcjs does not satisfy the file's pragma (exact or caret 0.8 ranges)."""
    for constraint in _PRAGMA.findall(text):
        for term in constraint.split():
            op = re.match(r"^(\^|>=|=)?(\d+)\.(\d+)\.(\d+)$", term)
            if not op:
                raise ContractBuildError(f"{source_name}: unsupported pragma {constraint!r}")
            want = tuple(int(x) for x in op.group(2, 3, 4))
            have = tuple(int(x) for x in SOLC_VERSION.split("."))
            ok = {
                None: have == want,
                "=": have == want,
                "^": have[:2] == want[:2] and have >= want,
                ">=": have >= want,
            }[op.group(1)]
            if not ok:
                raise ContractBuildError(f"{source_name}: pragma {constraint!r} is not met by solc {SOLC_VERSION}")


def collect_sources(entries: list[str], chainlink_root: Path) -> dict[str, dict[str, str]]:
    """Every source the entries import, keyed by import path, for a standard-JSON input."""
    sources: dict[str, dict[str, str]] = {}
    pending = list(entries)
    while pending:
        name = pending.pop()
        if name in sources:
            continue
        text = _resolve(name, chainlink_root).read_text()
        _check_pragma(name, text)
        sources[name] = {"content": text}
        for imported in _IMPORT.findall(text):
            if imported.startswith("."):
                imported = posixpath.normpath(posixpath.join(posixpath.dirname(name), imported))
            pending.append(imported)
    return sources


def build(force: bool = False) -> dict[str, dict]:
    """Compile the contracts into `.stack/build/contracts.json` and return the artifacts."""
    if ARTIFACTS.exists() and not force:
        return json.loads(ARTIFACTS.read_text())
    root = package_dir()
    request = {
        "language": "Solidity",
        "sources": collect_sources(list(CONTRACTS.values()), root),
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": "cancun",
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    if not (PROJECT_DIR / "node_modules" / "solc").exists():
        raise ContractBuildError("node_modules/solc is missing: run `npm ci` first")
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    request_file, output_file = BUILD_DIR / "solc-input.json", BUILD_DIR / "solc-output.json"
    request_file.write_text(json.dumps(request))
    proc = subprocess.run(
        ["node", str(COMPILER), str(request_file), str(output_file)], capture_output=True, text=True, check=False
    )
    if proc.returncode:
        raise ContractBuildError(f"solcjs failed: {proc.stderr[-2000:]}")
    output = json.loads(output_file.read_text())
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ContractBuildError("solcjs reported errors:\n" + "\n".join(errors))
    artifacts = {}
    for name, source in CONTRACTS.items():
        compiled = output["contracts"][source][name]
        artifacts[name] = {
            "source": source,
            "abi": compiled["abi"],
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
        }
    artifacts["_meta"] = {"solc": SOLC_VERSION, "chainlink_contracts": CHAINLINK_VERSION}
    ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = ARTIFACTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(artifacts))
    tmp.replace(ARTIFACTS)
    return artifacts
