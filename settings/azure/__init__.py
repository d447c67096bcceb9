"""The Azure room of the config: the AKS cluster, its registry and its vault."""
