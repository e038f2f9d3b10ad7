"""A URL from an HTTP connection's fields: the dashboard's (the refresh check, the alerts' links)
and the dead-man's switch's. Users paste a whole URL into the host, or a bare host with the port
and scheme in their own fields; both give the same URL, the port always before the path (a path is
kept as given: a ping URL's trailing slash may matter to its service)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def http_url(host: str, port: int | None = None, schema: str | None = None, default_scheme: str = "http") -> str:
    """`host` as a URL (scheme from `schema` or `default_scheme` when it has none), with `port` put
    into its network location unless the host already names one."""
    url = urlsplit(host if "://" in host else f"{schema or default_scheme}://{host}")
    if port and url.port is None:
        url = url._replace(netloc=f"{url.netloc}:{port}")
    return urlunsplit(url)
