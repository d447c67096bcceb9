"""The Azure room: the AKS cluster, its role assignments, registry, vault and kubeconfig."""
