"""Mechanisms every aidmesh service shares: envelope, event store, projections, telemetry, servers.

Business rules never live here; services meet only through their own ``events.py`` and NATS subjects.
"""
