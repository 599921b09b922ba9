"""The monitoring engine: metric samples and their rollups (``samples``), the event log the
WebSocket stream fans out (``events``), the collector, alert rules with their lifecycle,
silences and notifications, health, dashboards and the Prometheus exposition."""
