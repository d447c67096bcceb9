"""The service room: one service's namespace, Secret, egress, monitors and kinds."""
