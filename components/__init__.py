"""Platform components: one pulumi.ComponentResource per file."""
