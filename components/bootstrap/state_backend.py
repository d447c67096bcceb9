"""StateBackend: the storage account and container every platform stack keeps its Pulumi state in
(`pulumi login azblob://<container>?storage_account=<account>`)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, storage

from settings.bootstrap.config import StateBackendSettings


@dataclass(frozen=True)
class StateBackendArgs:
    settings: StateBackendSettings
    account_name: str
    resource_group_name: pulumi.Input[str]
    location: str
    tags: dict[str, str]


class StateBackend(pulumi.ComponentResource):
    """Entra ID only (no shared keys, no SAS), no public blobs, TLS 1.2 at least, every blob versioned
    and deletes recoverable, the account locked against deletion, one private container."""

    account_name: pulumi.Output[str]
    container_id: pulumi.Output[str]
    backend_url: pulumi.Output[str]

    def __init__(self, name: str, args: StateBackendArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:bootstrap:StateBackend", name, None, opts)
        self._args = args
        account = self._build_account(name)
        self._build_blob_service(name, account)
        container = self._build_container(name, account)
        self._build_lock(name, account)
        self.account_name = account.name
        self.container_id = container.id
        # pulumi/docs using-a-diy-backend.md: `azblob://<container>?storage_account=<name>` (CLI >= 3.41.1).
        self.backend_url = pulumi.Output.concat(
            "azblob://", args.settings.container_name, "?storage_account=", account.name
        )
        self.register_outputs(
            {"accountName": self.account_name, "containerId": self.container_id, "backendUrl": self.backend_url}
        )

    def _child(self, **extra: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)  # type: ignore[arg-type]

    def _build_account(self, name: str) -> storage.StorageAccount:
        a = self._args
        # pulumi_azure_native 3.29.0 storage/storage_account.py: allow_shared_key_access "If false, then all
        # requests, including shared access signatures, must be authorized with Azure Active Directory";
        # minimum_tls_version: "Minimum TLS version 1.3 version is not supported", so TLS1_2.
        return storage.StorageAccount(
            f"{name}-account",
            account_name=a.account_name,
            resource_group_name=a.resource_group_name,
            location=a.location,
            kind="StorageV2",
            sku={"name": a.settings.sku},
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_blob_public_access=False,
            allow_cross_tenant_replication=False,
            minimum_tls_version="TLS1_2",
            enable_https_traffic_only=True,
            tags=a.tags,
            opts=self._child(protect=True),
        )

    def _build_blob_service(self, name: str, account: storage.StorageAccount) -> None:
        days = self._args.settings.soft_delete_days
        # BlobServiceProperties: blob_services_name "must be 'default'" (storage/blob_service_properties.py).
        storage.BlobServiceProperties(
            f"{name}-blob-service",
            account_name=account.name,
            resource_group_name=self._args.resource_group_name,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy={"enabled": True, "days": days},
            container_delete_retention_policy={"enabled": True, "days": days},
            opts=self._child(),
        )

    def _build_container(self, name: str, account: storage.StorageAccount) -> storage.BlobContainer:
        return storage.BlobContainer(
            f"{name}-container",
            account_name=account.name,
            resource_group_name=self._args.resource_group_name,
            container_name=self._args.settings.container_name,
            public_access="None",
            opts=self._child(protect=True),
        )

    def _build_lock(self, name: str, account: storage.StorageAccount) -> None:
        # authorization LockLevel CAN_NOT_DELETE: "authorized users are able to read and modify the
        # resources, but not delete" (authorization/management_lock_by_scope.py).
        authorization.ManagementLockByScope(
            f"{name}-lock",
            scope=account.id,
            lock_name="do-not-delete-pulumi-state",
            level="CanNotDelete",
            notes="Every platform stack's Pulumi state lives here (aks-platform bootstrap).",
            opts=self._child(),
        )
