"""The local room of the config: the dev stack's cluster on the engineer's own machine."""
