"""Sub-commands of the CLI that belong to the core (no Kafka)."""
