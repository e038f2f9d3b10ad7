"""NewRoundTrigger: watch the registry's proxies from the triggerer and fire when one serves a new
round, or when one's latest round outlives its heartbeat plus grace (so a missed heartbeat is
reported within a poll, not at the next cron tick).

An event trigger for an `AssetWatcher`: Airflow runs it in the triggerer for as long as the DAG that
schedules on the asset exists, and every event it yields starts that DAG. One poll is one HTTP request
(a JSON-RPC batch of `latestRoundData` on every proxy), so a 10 s poll costs 8,640 requests a day
whatever the number of feeds. It goes through the hook's transport (as `SnowflakeSqlApiTrigger` goes
through its hook), whose retries and failover end within the poll interval; a poll that fails
entirely is logged and the next one tries again. The rounds it last saw are kept in the asset's state store, so a
triggerer restart fires for a round published while it was down instead of taking it as the baseline.

Two more events keep the monitor honest about itself:
- `alive_every`: when it has fired nothing for that long, {"alive": {...}}: the run it starts proves
  the whole path (triggerer, scheduler, workers, warehouse) alive, and pings a dead-man's switch.
- `wake_variables`: while any of these Airflow Variables is set (the alerts set one when pages wait
  unsent), {"wake": [variable, ...]} at most every `wake_every` seconds (they are looked up that
  often, not every poll), so a receiver that comes back gets its pages within a couple of minutes,
  not at the next round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from eth_abi.exceptions import DecodingError

from chainlink_feeds.abi import PROXY
from chainlink_feeds.errors import ChainlinkError
from chainlink_feeds.hooks import ChainlinkHook

STATE_KEY = "latest_rounds"
OVERDUE_KEY = "overdue_rounds"
# A poll's retries end within its poll interval, but never within less than this (a slow answer
# from a busy node is not a fault): the poll cadence holds while an endpoint is down.
MIN_POLL_BUDGET_SECONDS = 5.0
DEFAULT_WAKE_EVERY_SECONDS = 60.0


def latest_round_batch(proxies: list[str]) -> list[tuple[str, list[Any]]]:
    """The JSON-RPC batch, as (method, params), asking every proxy for its latest round at the head."""
    data = "0x" + PROXY["latestRoundData"].encode().hex()
    return [("eth_call", [{"to": proxy, "data": data}, "latest"]) for proxy in proxies]


def decode_latest_rounds(proxies: list[str], answers: list[dict[str, Any]]) -> dict[str, list[str]]:
    """proxy -> [round id, updatedAt] (decimal strings: a proxy's round ids pass 2^64, which the
    triggerer's messages cannot carry as integers) from a batch's answers, in request order; a proxy
    whose call failed (no round yet, or an error) is left out, so it cannot fire until it answers."""
    latest = {}
    for proxy, answer in zip(proxies, answers, strict=False):
        result = answer.get("result") if isinstance(answer, dict) else None
        try:
            round_id, _, _, updated_at, _ = PROXY["latestRoundData"].decode(bytes.fromhex(result[2:]))
        except (TypeError, ValueError, DecodingError):  # no answer, "0x", or not a round
            continue
        latest[proxy] = [str(round_id), str(updated_at)]
    return latest


def new_rounds(seen: dict[str, list[str]], latest: dict[str, list[str]]) -> dict[str, list[str]]:
    """The proxies whose latest round differs from the one last seen (a new round, or another phase)."""
    return {proxy: now for proxy, now in latest.items() if seen.get(proxy) != now}


def overdue_rounds(
    latest: dict[str, list[str]], stale_after: dict[str, int], reported: dict[str, str], now: float
) -> dict[str, list[str]]:
    """The proxies whose latest round is older than their heartbeat plus grace and not reported yet."""
    return {
        proxy: r
        for proxy, r in latest.items()
        if proxy in stale_after and now - int(r[1]) > stale_after[proxy] and reported.get(proxy) != r[0]
    }


class NewRoundTrigger(BaseEventTrigger):
    """Polls every `poll_interval` seconds; yields one event per poll in which any proxy's latest
    round changed, {"new_rounds": {proxy: [round id, updatedAt]}}, and one when a proxy's latest
    round outlives `stale_after[proxy]` seconds (its heartbeat plus grace), {"heartbeat_missed": {...}};
    {"alive": ...} after `alive_every` quiet seconds and {"wake": ...} while a `wake_variables` is set."""

    def __init__(
        self,
        *,
        chainlink_conn_id: str,
        proxies: list[str],
        poll_interval: float = 10.0,
        stale_after: dict[str, int] | None = None,
        alive_every: float | None = None,
        wake_variables: list[str] | None = None,
        wake_every: float = DEFAULT_WAKE_EVERY_SECONDS,
    ) -> None:
        super().__init__()
        if not proxies:
            raise ValueError("NewRoundTrigger needs at least one proxy address to watch")
        for name, value in (("poll_interval", poll_interval), ("alive_every", alive_every), ("wake_every", wake_every)):
            if value is not None and value <= 0:
                raise ValueError(f"NewRoundTrigger {name} must be positive seconds, got {value}")
        self.chainlink_conn_id = chainlink_conn_id
        self.proxies = list(proxies)
        self.poll_interval = poll_interval
        self.stale_after = dict(stale_after or {})
        self.alive_every = alive_every
        self.wake_variables = list(wake_variables or [])
        self.wake_every = wake_every

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "chainlink_feeds.triggers.NewRoundTrigger",
            {
                "chainlink_conn_id": self.chainlink_conn_id,
                "proxies": self.proxies,
                "poll_interval": self.poll_interval,
                "stale_after": self.stale_after,
                "alive_every": self.alive_every,
                "wake_variables": self.wake_variables,
                "wake_every": self.wake_every,
            },
        )

    async def _recall(self, key: str) -> Any:
        if self.asset_state_store is None:  # not started by a watcher (a test)
            return None
        return await self.asset_state_store.aget(key)

    async def _remember(self, key: str, value: dict[str, Any]) -> None:
        if self.asset_state_store is not None:
            await self.asset_state_store.aset(key, value)

    def extra_requests(self) -> list[tuple[str, list[Any]]]:
        """Calls a subclass adds to each poll's batch, after the proxies' (none here)."""
        return []

    async def extra_events(self, answers: list[dict[str, Any]]) -> list[TriggerEvent]:
        """The events a subclass draws from its calls' answers, in `extra_requests` order (none here)."""
        return []

    async def _waiting(self) -> list[str]:
        """The wake variables that are set (the secrets backends answer None for an unset one, and
        for one they could not reach this time: the next check asks again). Read in a thread: the
        SDK's lookup is synchronous."""
        from airflow.sdk import Variable

        values = {name: await asyncio.to_thread(Variable.get, name, None) for name in self.wake_variables}
        return [name for name, value in values.items() if value not in (None, "")]

    async def _self_events(self, last_event: float, last_wake: float, now: float) -> list[TriggerEvent]:
        """The monitor's own events: a wake while pages wait unsent (looked up when `last_wake`, the
        last look, is `wake_every` old), else alive after a quiet spell."""
        if self.wake_variables and now - last_wake >= self.wake_every and (waiting := await self._waiting()):
            self.log.info("waking the DAG: %s set", waiting)
            return [TriggerEvent({"wake": waiting})]
        if self.alive_every is not None and now - last_event >= self.alive_every:
            return [TriggerEvent({"alive": {"quiet_seconds": round(now - last_event)}})]
        return []

    async def _poll(self, hook: ChainlinkHook) -> list[dict[str, Any]] | None:
        """One batch: the proxies' latest rounds, then `extra_requests` (the hook's transport retries
        and fails over within the poll's budget); None when every try failed: the next poll tries again."""
        budget = max(self.poll_interval, MIN_POLL_BUDGET_SECONDS)
        try:
            return await hook.abatch(latest_round_batch(self.proxies) + self.extra_requests(), budget=budget)
        except ChainlinkError as exc:  # the transport's messages are redacted
            self.log.warning("poll of %s proxies failed, polling on: %s", len(self.proxies), exc)
            return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = ChainlinkHook(chainlink_conn_id=self.chainlink_conn_id)
        await hook.asettings()  # a misconfigured connection fails the trigger here
        seen = await self._recall(STATE_KEY)
        reported = await self._recall(OVERDUE_KEY) or {}
        last_event = last_wake = time.time()
        try:
            while True:
                fired = 0
                answers = await self._poll(hook)
                if answers is not None:
                    latest = decode_latest_rounds(self.proxies, answers[: len(self.proxies)])
                    if seen is None:  # first start: what the chain serves now is the baseline
                        seen = latest
                        await self._remember(STATE_KEY, latest)
                    elif changed := new_rounds(seen, latest):
                        self.log.info("new rounds: %s", changed)
                        yield TriggerEvent({"new_rounds": changed})
                        fired += 1
                        # Remembered once handed to the triggerer, which writes events to the database
                        # a moment later: a crash in between loses this event, and the hourly cron
                        # fallback then loads the round.
                        seen = seen | latest
                        await self._remember(STATE_KEY, seen)
                    if overdue := overdue_rounds(latest, self.stale_after, reported, time.time()):
                        self.log.info("heartbeat missed: %s", overdue)
                        yield TriggerEvent({"heartbeat_missed": overdue})
                        fired += 1
                        reported = reported | {proxy: r[0] for proxy, r in overdue.items()}
                        await self._remember(OVERDUE_KEY, reported)
                    for event in await self.extra_events(answers[len(self.proxies) :]):
                        yield event
                        fired += 1
                now = time.time()
                last_event = now if fired else last_event
                for event in await self._self_events(last_event, last_wake, now):
                    yield event
                    last_event = now
                if now - last_wake >= self.wake_every:  # looked (or nothing to look at): wait the period
                    last_wake = now
                await asyncio.sleep(self.poll_interval)
        finally:
            await hook.aclose()
