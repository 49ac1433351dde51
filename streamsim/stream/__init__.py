"""The Kafka adapter: Faust app, agents, topics, replay."""
