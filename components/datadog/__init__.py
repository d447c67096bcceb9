"""The Datadog room: the node agents, the Cluster Agent and the monitors."""
