"""The Datadog room of the config: the agents and the monitors."""
