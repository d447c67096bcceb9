"""The service room of the config: one service, its namespace, egress and kinds."""
