"""Uniswap v3's own compiled factory and pool, and the project's token and pool driver, in
`.stack/build/uniswap.json` (a build file of its own: `contracts.json` feeds the stack's history
fingerprint and stays as it is).

The factory and pool are not compiled here: `@uniswap/v3-core` 1.0.1 ships the artifacts mainnet
was deployed from (keccak256 of its pool creation code is mainnet's POOL_INIT_CODE_HASH), fetched
with `npm pack` and checked against the registry's integrity. LocalToken and PoolDriver are
compiled by the project's solcjs 0.8.26.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

from eth_utils import keccak

from devstack.chain import contracts
from devstack.chain.contracts import ContractBuildError
from devstack.chain.transactions import Build
from devstack.chain.uniswap.mainnet import POOL_INIT_CODE_HASH
from devstack.settings import BUILD_DIR, PROJECT_DIR

V3_CORE = ("@uniswap/v3-core", "1.0.1")
V3_CORE_INTEGRITY = "sha512-7pVk4hEm00j9tc71Y9+ssYpO6ytkeI0y7WE9P6UcmNzhxPePwyAxImuhVsTqWK9YFvzgtvzJHi64pBl4jUzKMQ=="
CORE_ARTIFACTS = {name: f"artifacts/contracts/{name}.sol/{name}.json" for name in ("UniswapV3Factory", "UniswapV3Pool")}
SOLC, SOLC_PACKAGE = "0.8.26", "solc"
OWN = {
    "LocalToken": "devstack/contracts/LocalToken.sol",
    "PoolDriver": "devstack/contracts/PoolDriver.sol",
}
ARTIFACTS = BUILD_DIR / "uniswap.json"


def build(force: bool = False) -> dict[str, dict]:
    """The artifacts by contract name (abi, bytecode, deployedBytecode), built once per source change."""
    fingerprint = _fingerprint()
    if ARTIFACTS.exists() and not force:
        artifacts = json.loads(ARTIFACTS.read_text())
        if artifacts.get("_fingerprint") == fingerprint:
            return artifacts
    artifacts = _core() | _compile() | {"_fingerprint": fingerprint}
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    tmp = ARTIFACTS.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(artifacts))
    tmp.replace(ARTIFACTS)
    return artifacts


def _fingerprint() -> str:
    own = {path: hashlib.sha256((PROJECT_DIR / path).read_bytes()).hexdigest() for path in OWN.values()}
    return hashlib.sha256(json.dumps([V3_CORE, SOLC, own], sort_keys=True).encode()).hexdigest()


def _core() -> dict[str, dict]:
    root = contracts.npm_package_dir(*V3_CORE, V3_CORE_INTEGRITY)
    out = {}
    for name, path in CORE_ARTIFACTS.items():
        raw = json.loads((root / path).read_text())
        out[name] = {k: raw[k] for k in ("abi", "bytecode", "deployedBytecode")} | {
            "source": f"{'@'.join(V3_CORE)}/{path}"
        }
    pool_hash = "0x" + keccak(hexstr=out["UniswapV3Pool"]["bytecode"]).hex().removeprefix("0x")
    if pool_hash != POOL_INIT_CODE_HASH:
        raise ContractBuildError(
            f"{'@'.join(V3_CORE)}: UniswapV3Pool's creation code hashes to {pool_hash}, not mainnet's"
        )
    return out


def _compile() -> dict[str, dict]:
    if not (PROJECT_DIR / "node_modules" / SOLC_PACKAGE).exists():
        raise ContractBuildError(f"node_modules/{SOLC_PACKAGE} is missing: run `npm ci` first")
    request = {
        "language": "Solidity",
        "sources": contracts.collect_sources(list(OWN.values()), PROJECT_DIR, SOLC),
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": contracts.NODE_EVM_VERSION,
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "storageLayout"]}
            },
        },
    }
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    request_file = BUILD_DIR / f"uniswap-solc-input.{os.getpid()}.json"
    output_file = request_file.with_name(f"uniswap-solc-output.{os.getpid()}.json")
    request_file.write_text(json.dumps(request))
    proc = subprocess.run(
        ["node", str(contracts.COMPILER), SOLC_PACKAGE, str(request_file), str(output_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise ContractBuildError(f"solcjs {SOLC} failed on the Uniswap helpers: {proc.stderr[-2000:]}")
    output = json.loads(output_file.read_text())
    request_file.unlink()
    output_file.unlink()
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ContractBuildError(f"solcjs {SOLC} reported errors:\n" + "\n".join(errors))
    return {
        name: {
            "source": source,
            "abi": (compiled := output["contracts"][source][name])["abi"],
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
            "storageLayout": compiled["storageLayout"],
        }
        for name, source in OWN.items()
    }


UNISWAP = Build(build)  # calls to these contracts, encoded from this build's ABIs
