"""aidmesh services: each runs on its own and meets the others only through events and NATS."""
