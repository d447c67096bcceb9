"""The dev stack's cluster on the engineer's own machine: `platform:local`."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from settings.base import Model
from settings.types import ImageName, ImageTag, K8sName, MinorVersion, split_image


class ImageOverride(Model):
    """One entry of `local.images`, as in kustomize's `images:` list (kubernetes-sigs/kustomize
    api/types/image.go, `Image`: name, newName, newTag). A container image whose name, without
    tag or digest, equals `name` exactly (api/internal/image/image.go `IsImageMatched`) runs as
    `newName` and/or `newTag` instead."""

    name: ImageName = Field(
        description="The image name the services use, without tag, e.g. 'ghcr.io/example-org/admin-app'."
    )
    new_name: ImageName | None = Field(None, description="The name to run instead, e.g. 'docker.io/local/admin-app'.")
    new_tag: ImageTag | None = Field(
        None, description="The tag to run instead, e.g. 'dev'; replaces a digest too. Unset keeps the tag or digest."
    )

    @model_validator(mode="after")
    def _changes_something(self) -> ImageOverride:
        """An entry sets `newName`, `newTag` or both."""
        if self.new_name is None and self.new_tag is None:
            raise ValueError(f"image {self.name!r} needs newName, newTag or both")
        return self

    def apply(self, image: str) -> str | None:
        """The image to run instead of `image`, or None when this entry does not name it."""
        name, suffix = split_image(image)
        if name != self.name:
            return None
        return (self.new_name or name) + (f":{self.new_tag}" if self.new_tag else suffix)


def unique_image_names(images: list[ImageOverride]) -> list[ImageOverride]:
    """One entry per image name."""
    names = [image.name for image in images]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"duplicate image name {name!r}: one entry per image")
    return images


class LocalSettings(Model):
    """The `dev` stack's cluster on the engineer's own machine."""

    kubeconfig: str | None = Field(
        None,
        description=(
            "Kubeconfig file. Unset means the one `make cluster-up` writes, in $LOCAL_CLUSTER_DIR "
            "(default ~/.cache/aks-platform-local): the same setting the cluster and the dev runner use."
        ),
    )
    context: str = Field(
        "aks-platform-local", min_length=1, description="Context to use, e.g. 'kind-kind' or 'docker-desktop'."
    )
    kubernetes_version: MinorVersion = Field("1.34", description="MAJOR.MINOR of the local API server.")
    ingress_class_name: K8sName = Field(
        "nginx", description="IngressClass of your local ingress controller (kind and minikube: 'nginx')."
    )
    ingress_controller_namespace: K8sName = Field(
        "ingress-nginx", description="Namespace of that controller; only it may reach the web port."
    )
    images: list[ImageOverride] = Field(
        default_factory=list,
        description=(
            "Run other images than the services name, like kustomize's `images:` (name, newName, newTag); "
            "e.g. the stand-ins devenv/images.py builds for the real node. Every container of every service "
            "pod (web, worker, jobs) is mapped; each entry must match an image of this stack."
        ),
    )
    real_node: bool = Field(
        False,
        description=(
            "Run the services' pods on the local cluster's real kubelet node (root and Linux; `make dev` "
            "starts it, builds and imports its images). Adds the node's toleration and nodeSelector and "
            "imagePullPolicy Never; every service image needs an `images` entry, as the node pulls nothing."
        ),
    )

    _unique_image_names = field_validator("images")(unique_image_names)

    def image(self, image: str) -> str:
        """`image` as `images` maps it; unchanged when no entry names it."""
        return next((mapped for entry in self.images if (mapped := entry.apply(image)) is not None), image)
