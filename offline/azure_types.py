"""Check Azure request bodies against the Azure SDK's own generated types.

pulumi_azure_native's Python classes are generated from Azure's REST API
specifications: each `<Name>Args` input class has one getter per property,
decorated with its wire name, and each enum lives in the module's `_enums.py`.
Walking a registered resource's inputs through those classes finds a property
name or an enum value that Azure's API does not define, offline."""

from __future__ import annotations

import importlib
import re
from enum import Enum
from typing import Any

_REF = re.compile(r"ForwardRef\('(\w+)'\)")


def _args_class(resource_type: str) -> tuple[type, str]:
    """'azure-native:containerservice:ManagedCluster' -> (ManagedClusterArgs, its package)."""
    _, module, name = resource_type.split(":")
    package = f"pulumi_azure_native.{module}"
    loaded = importlib.import_module(package)
    # Where a nested input type has the resource's name (network's Subnet),
    # the generator calls the resource's own class `<Name>InitArgs`.
    return getattr(loaded, f"{name}InitArgs", None) or getattr(loaded, f"{name}Args"), package


def _properties(cls: type) -> dict[str, Any]:
    """Wire name -> return annotation of every getter of an input class."""
    found = {}
    for attr in vars(cls).values():
        getter = getattr(attr, "fget", None)
        wire_name = getattr(getter, "_pulumi_name", None)
        if wire_name:
            found[wire_name] = getter.__annotations__.get("return")
    return found


def _find(package: str, name: str) -> Any:
    for module in ("_inputs", "_enums"):
        found = getattr(importlib.import_module(f"{package}.{module}"), name, None)
        if found is not None:
            return found
    return None


def check_value(value: Any, annotation: Any, package: str, path: str) -> list[str]:
    text = str(annotation)
    types = [t for t in (_find(package, ref) for ref in _REF.findall(text)) if t is not None]
    enum = next((t for t in types if isinstance(t, type) and issubclass(t, Enum)), None)
    args = next((t for t in types if isinstance(t, type) and t.__name__.endswith("Args")), None)
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in check_value(item, annotation, package, f"{path}[{i}]")]
    if isinstance(value, str) and enum is not None:
        allowed = sorted(member.value for member in enum)
        return [] if value in allowed else [f"{path}: {value!r} is not one of {enum.__name__} {allowed}"]
    if isinstance(value, dict) and args is not None:
        if re.search(r"^typing\.Union\[typing\.Mapping\[str", text):
            return [p for key, item in value.items() for p in check_object(item, args, package, f"{path}.{key}")]
        return check_object(value, args, package, path)
    return []


def check_object(value: dict[str, Any], cls: type, package: str, path: str) -> list[str]:
    properties = _properties(cls)
    problems = []
    for key, item in value.items():
        if key not in properties:
            problems.append(f"{path}.{key}: not a property of {cls.__name__}")
        else:
            problems += check_value(item, properties[key], package, f"{path}.{key}")
    return problems


def check_inputs(resource_type: str, inputs: dict[str, Any]) -> list[str]:
    """Every property name or enum value of a resource's inputs the SDK's generated types do not know."""
    cls, package = _args_class(resource_type)
    return check_object(inputs, cls, package, resource_type.rsplit(":", 1)[1])
