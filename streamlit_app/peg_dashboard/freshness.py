"""`GET /api/freshness`: what the dashboard serves, for the DAG's refresh check.

Answers JSON from the same cached data layer the pages use (the same data version):

    {"app_version": "1.0.0", "data_version": "3f2a9c1b0d7e", "served_at": "2026-11-24T10:00:00+00:00",
     "data_as_of": "2026-11-24T00:00:00+00:00",
     "feeds": [{"feed_pair": "USDC/USD", "chain": "ethereum", "data_as_of": "...",
                "last_updated_at": "...", "market_as_of": "..."}, ...],
     "data_label": null}

`data_as_of` is the oldest of the feeds' (null without feeds). `last_updated_at` is the oracle's
newest round served, `market_as_of` the market's newest reading (the Market vs Oracle page's last
point; null for a feed without pools): a client sees from them when a round or a swap reached the
screen (bench/realtime_latency.py does). `data_label` is the configured label of data that is not
the chain's own (the local stack's SIMULATED history), else null. It takes no input (query
parameters are ignored) and returns no secret; when the warehouse cannot be read it answers 503
with {"error": "..."} and logs the details.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from starlette.responses import JSONResponse
from starlette.routing import Route

from peg_dashboard import __version__

if TYPE_CHECKING:
    from starlette.requests import Request

log = logging.getLogger(__name__)

PATH = "/api/freshness"
APP_VERSION = os.environ.get("PEG_APP_VERSION", __version__)
NO_STORE = {"Cache-Control": "no-store"}


def _iso(value: Any) -> str | None:
    """An ISO-8601 UTC string for a naive UTC timestamp, or None."""
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime().replace(tzinfo=UTC).isoformat()


def freshness(request: Request) -> JSONResponse:
    """The freshness document (a plain function: Starlette runs it in its thread pool)."""
    # Imported here, not at the top: the launcher imports this module before Streamlit's runtime exists.
    from peg_dashboard import connection, data
    from peg_dashboard.config import ConfigurationError, DataLabelError

    served_at = datetime.now(UTC).isoformat()
    try:
        label = connection.settings().data_label or None
        version, frame = data.freshness()
    except DataLabelError as exc:
        log.error("freshness: %s", exc)
        return JSONResponse({"error": str(exc)}, 503, NO_STORE)
    except ConfigurationError as exc:
        log.error("freshness: not configured: %s", exc)
        return JSONResponse({"error": "the dashboard has no Snowflake connection configured"}, 503, NO_STORE)
    except connection.MartsNotFound as exc:
        log.error("freshness: %s", exc)
        return JSONResponse({"error": "the marts were not found in the configured schema"}, 503, NO_STORE)
    except connection.DataError as exc:
        log.error("freshness: %s", exc)
        return JSONResponse({"error": "the warehouse is unreachable"}, 503, NO_STORE)
    feeds = [
        {
            "feed_pair": row.feed_pair,
            "chain": row.chain,
            "data_as_of": _iso(row.data_as_of),
            "last_updated_at": _iso(row.last_updated_at),
            "market_as_of": _iso(row.market_as_of),
        }
        for row in frame.itertuples(index=False)
    ]
    oldest = frame["data_as_of"].min() if len(frame) else None
    body = {
        "app_version": APP_VERSION,
        "data_version": version.token,
        "served_at": served_at,
        "data_as_of": _iso(oldest),
        "feeds": feeds,
        "data_label": label,
    }
    return JSONResponse(body, headers=NO_STORE)


ROUTES = [Route(PATH, freshness, methods=["GET"])]
