"""The Stablecoin Peg Monitor dashboard: settings, the data layer, charts and the freshness route."""

__version__ = "1.0.0"
