"""The local room: the dev stack's cluster on the engineer's own machine."""
