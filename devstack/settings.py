"""Where the local stack keeps its state and which ports it uses, read from the environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from peg_monitor import settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
STACK_DIR = Path(os.environ.get("PEG_STACK_DIR", PROJECT_DIR / ".stack")).resolve()
BUILD_DIR = STACK_DIR / "build"
RUN_DIR = STACK_DIR / "run"
LOG_DIR = STACK_DIR / "logs"
AIRFLOW_HOME = STACK_DIR / "airflow"  # the project-local Airflow of `make demo`

ANVIL_HOST = os.environ.get("PEG_ANVIL_HOST", "127.0.0.1")
ANVIL_PORT = int(os.environ.get("PEG_ANVIL_PORT", "8545"))
ANVIL_URL = f"http://{ANVIL_HOST}:{ANVIL_PORT}"
# The local node impersonates Ethereum mainnet (chain id 1, feeds at their mainnet proxy
# addresses) so the feed registry and the hook's chain check work unchanged.
ANVIL_CHAIN_ID = int(os.environ.get("PEG_ANVIL_CHAIN_ID", "1"))
# The second node: Arbitrum One (chain id 42161) with the registry's Arbitrum feeds and its sequencer
# uptime feed at their mainnet addresses, and the status port of the oracle that keeps it living.
ARBITRUM_ANVIL_PORT = int(os.environ.get("PEG_ARBITRUM_ANVIL_PORT", "8549"))
# The oracles' status ports (devstack.oracle): 8546 is the tests' default scratch node, 8547 the
# ingest benchmark's.
ORACLE_PORT = int(os.environ.get("PEG_ORACLE_PORT", "8548"))
ARBITRUM_ORACLE_PORT = int(os.environ.get("PEG_ARBITRUM_ORACLE_PORT", "8551"))

FAKESNOW_HOST = os.environ.get("PEG_FAKESNOW_HOST", "127.0.0.1")
FAKESNOW_PORT = int(os.environ.get("PEG_FAKESNOW_PORT", "8765"))
# The database and raw schema the pipeline uses (one home: peg_monitor.settings), created in the emulator.
SNOWFLAKE_DATABASE = settings.snowflake_database()
SNOWFLAKE_SCHEMA = settings.raw_schema()
SNOWFLAKE_WAREHOUSE = os.environ.get("PEG_SNOWFLAKE_WAREHOUSE", "PEG_WH")

DASHBOARD_HOST = os.environ.get("PEG_DASHBOARD_HOST", "127.0.0.1")
DASHBOARD_PORT = int(os.environ.get("PEG_DASHBOARD_PORT", "8501"))
DASHBOARD_URL = f"http://{DASHBOARD_HOST}:{DASHBOARD_PORT}"
AIRFLOW_PORT = int(os.environ.get("PEG_AIRFLOW_PORT", "8080"))
# How the demo runs Airflow: "celery" (a deployment's shape: Postgres, Redis, the API server, scheduler,
# DAG processor, triggerer and two Celery workers as separate processes) or "standalone" (`airflow
# standalone` on SQLite with the LocalExecutor, one process tree).
AIRFLOW_SHAPE = os.environ.get("PEG_AIRFLOW_SHAPE", "celery")
AIRFLOW_SCHEDULER_PORT = int(os.environ.get("PEG_AIRFLOW_SCHEDULER_PORT", "8974"))  # its health check
AIRFLOW_TRIGGERER_PORT = int(os.environ.get("PEG_AIRFLOW_TRIGGERER_PORT", "8794"))  # its log server
# One log server port per Celery worker; their count is the number of workers the demo starts.
AIRFLOW_WORKER_PORTS = tuple(int(p) for p in os.environ.get("PEG_AIRFLOW_WORKER_PORTS", "8793,8792").split(","))
AIRFLOW_WORKER_CONCURRENCY = int(os.environ.get("PEG_AIRFLOW_WORKER_CONCURRENCY", "4"))

# The metadata DB and the Celery broker (Debian's postgresql and redis-server), not the system ones.
POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = int(os.environ.get("PEG_POSTGRES_PORT", "5433"))
POSTGRES_BIN_DIR = os.environ.get("PEG_POSTGRES_BIN_DIR")  # default: the newest /usr/lib/postgresql/*/bin
POSTGRES_OS_USER = os.environ.get("PEG_POSTGRES_OS_USER", "postgres")  # the server's user when run as root
REDIS_HOST = "127.0.0.1"
REDIS_PORT = int(os.environ.get("PEG_REDIS_PORT", "6380"))
# Set by the cluster in each Celery worker's environment: the hostname its task instances record.
WORKER_HOSTNAME = os.environ.get("PEG_WORKER_HOSTNAME")

NODE_BIN = PROJECT_DIR / "node_modules" / ".bin"
BIN = Path(sys.executable).parent  # this virtualenv's: airflow, streamlit
