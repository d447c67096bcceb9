"""Annotated domain types: each one names a rule once, so every field that
uses it is validated the same way and its error says what is expected."""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated

from pydantic import AfterValidator, Field

# Every pattern here is matched whole (fullmatch) and with re.ASCII: Python's `$` also
# matches before a trailing newline, and its `\d` and `\w` match Unicode (a full-width
# digit, U+FF11, is a `\d`), while Kubernetes and registries take ASCII only (Python 3.11 docs,
# `re`: "$", "\d", "\w" and re.ASCII).
_DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", re.ASCII)
_QUANTITY = re.compile(r"([0-9]+(\.[0-9]+)?)(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?", re.ASCII)
_MINOR_VERSION = re.compile(r"1\.[0-9]{2}", re.ASCII)
_PATCH_VERSION = re.compile(r"1\.[0-9]{2}\.[0-9]+", re.ASCII)
_UUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", re.ASCII)
_HH_MM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]", re.ASCII)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,\-?]+", re.ASCII)
# An HTTP path a probe asks and nginx routes: printable ASCII, no space or control character.
_HTTP_PATH = re.compile(r"/[!-~]*", re.ASCII)
# The OCI distribution reference grammar, github.com/distribution/reference v0.6.0
# regexp.go: reference := name [":" tag] ["@" digest]; name := [domain[:port] "/"]
# path-component ["/" path-component]*, path components lower-case `[a-z0-9]+` joined by
# `(?:[._]|__|[-]+)`; tag `[\w][\w.-]{0,127}` (Go's `\w` is ASCII: hence re.ASCII);
# digest `algorithm:hex`, of which the platform pins sha256 (go-digest's canonical one).
# reference.go Parse refuses a name of more than 255 characters (RepositoryNameTotalLengthMax;
# v0.6.0 counts the path, docker/distribution v2 the whole name: the stricter is kept).
# IPv6 registry hosts are left out.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_IMAGE_NAME_PATTERN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*"
_IMAGE_NAME = re.compile(_IMAGE_NAME_PATTERN, re.ASCII)
_IMAGE_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_IMAGE_NAME_AND_TAG = re.compile(rf"(?P<name>{_IMAGE_NAME_PATTERN})(?::(?P<tag>[\w][\w.-]{{0,127}}))?", re.ASCII)
_SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
IMAGE_NAME_MAX_LENGTH = 255
# A Kubernetes label value (k8s.io/apimachinery v0.34.4 pkg/util/validation/validation.go
# IsValidLabelValue: at most 63, `(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?`). An image's
# tag becomes the `app.kubernetes.io/version` label of its pods (components/service/pod_spec.py
# image_tag), so a tag the registry takes but a label cannot hold fails mid-update.
_LABEL_VALUE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", re.ASCII)
LABEL_VALUE_MAX_LENGTH = 63
# The CronJob controller names each Job `<cronjob>-<minutes since epoch>` (cronjob_controllerv2.go
# getJobName), 11 characters more, and a Job's name is a 63-character label: the API server refuses a CronJob name of
# more than 52 (k8s.io/kubernetes v1.34.4 pkg/apis/batch/validation/validation.go
# ValidateCronJobCreate, DNS1035LabelMaxLength-11). The jobs component names each CronJob
# exactly as the job (components/service/kinds/jobs/component.py), with no service prefix.
CRON_JOB_NAME_MAX_LENGTH = 52
# (name, min, max) of each of the five cron fields, in order.
_CRON_RANGES = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_CRON_NAMES = {
    "month": ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    "day of week": ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
}


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_1123_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 label: use lower-case letters, digits and '-', "
            "start and end with a letter or digit, at most 63 characters"
        )
    return value


def _quantity(value: str | int | float) -> str:
    text = str(value)
    if not _QUANTITY.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a Kubernetes quantity: write e.g. '250m' or '0.5' for CPU, '256Mi' or '1Gi' for memory"
        )
    return text


def _cron_job_name(value: str) -> str:
    if len(value) > CRON_JOB_NAME_MAX_LENGTH:
        raise ValueError(
            f"{value!r} is {len(value)} characters; a CronJob name may have at most {CRON_JOB_NAME_MAX_LENGTH} "
            "(Kubernetes adds 11 for each Job it starts)"
        )
    return value


def _image(value: str) -> str:
    # Pinning makes a deploy reproducible and a rollback meaningful.
    name_and_tag, at, digest = value.partition("@")
    match = _IMAGE_NAME_AND_TAG.fullmatch(name_and_tag)
    if not match:
        upper = _IMAGE_NAME_AND_TAG.fullmatch(name_and_tag.lower()) is not None
        lower = " (registries take lower-case paths only)" if upper else ""
        raise ValueError(
            f"{value!r} is not an image reference{lower}: write '[registry[:port]/]path:tag' or "
            "'...@sha256:<64 hex>', with a lower-case path, in ASCII, without spaces"
        )
    if len(match["name"]) > IMAGE_NAME_MAX_LENGTH:
        raise ValueError(f"{value[:40]!r}... has a name of {len(match['name'])} characters; at most 255")
    if at:
        if not _SHA256_DIGEST.fullmatch(digest):
            raise ValueError(f"{value!r} has a malformed digest: expected '@sha256:<64 hex>'")
        return value
    tag = match["tag"]
    if tag is None:
        raise ValueError(f"{value!r} has no tag: pin an image as 'name:tag' or 'name@sha256:…'")
    if tag == "latest":
        raise ValueError(f"{value!r} uses the 'latest' tag: pin a real version")
    if len(tag) > LABEL_VALUE_MAX_LENGTH or not _LABEL_VALUE.fullmatch(tag):
        raise ValueError(
            f"{value!r} has a tag pods cannot carry as their version label: at most 63 characters, "
            "starting and ending with a letter or digit"
        )
    return value


def _image_name(value: str) -> str:
    if not _IMAGE_NAME.fullmatch(value) or len(value) > IMAGE_NAME_MAX_LENGTH:
        raise ValueError(
            f"{value!r} is not an image name without tag or digest, like 'ghcr.io/example-org/admin-app' "
            "(lower-case path; no ':tag' or '@sha256:...')"
        )
    return value


def _image_tag(value: str) -> str:
    if not _IMAGE_TAG.fullmatch(value):
        raise ValueError(f"{value!r} is not an image tag: letters, digits, '_', '.' and '-', at most 128")
    if value == "latest":
        raise ValueError("'latest' is not a pinned tag: pin a real version")
    return value


def _cron_value(token: str, field: str) -> int:
    names = _CRON_NAMES.get(field)
    if names and token.upper() in names:
        return names.index(token.upper()) + (1 if field == "month" else 0)
    if not (token.isascii() and token.isdigit()):  # str.isdigit() also takes U+FF11 and U+00B2
        raise ValueError(f"{token!r} is not a number")
    return int(token)


def _check_cron_field(text: str, field: str, low: int, high: int) -> None:
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and (not (step.isascii() and step.isdigit()) or int(step) == 0):
            raise ValueError(f"step {step!r} in the {field} field must be a positive number")
        if base in ("*", "?"):
            continue
        for bound in base.split("-", 1):
            number = _cron_value(bound, field)
            if not low <= number <= high:
                raise ValueError(f"{number} is outside {low}-{high} in the {field} field")


def _cron_schedule(value: str) -> str:
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(
            f"{value!r} is not a 5-field cron schedule: "
            "write 'minute hour day-of-month month day-of-week', e.g. '0 * * * *'"
        )
    for text, (field, low, high) in zip(fields, _CRON_RANGES, strict=True):
        try:
            if not _CRON_FIELD.fullmatch(text):
                raise ValueError(f"{text!r} has characters cron does not allow")
            _check_cron_field(text, field, low, high)
        except ValueError as err:
            raise ValueError(f"{value!r} is not a valid cron schedule: {err}") from None
    return value


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        raise ValueError(f"{value!r} is not a CIDR range like '10.0.0.0/16': {err}") from None
    return value


def _ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    return value


def _regex(pattern: re.Pattern[str], expected: str):
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {expected}")
        return value

    return check


@functools.cache
def _known_time_zones() -> frozenset[str]:
    # available_timezones() walks the whole tz database on disk: once per process,
    # not once per job (it was the largest cost of validating 50 services).
    from zoneinfo import available_timezones

    return frozenset(available_timezones())


def _time_zone(value: str) -> str:
    if value not in _known_time_zones():
        raise ValueError(f"{value!r} is not an IANA time zone like 'Asia/Tokyo' or 'Etc/UTC'")
    return value


@dataclass(frozen=True)
class Rule:
    """What a domain type accepts, in words: the configuration reference prints it
    (settings/reference.py). Pydantic keeps it in the type's metadata and ignores it."""

    name: str
    text: str


K8sName = Annotated[
    str,
    AfterValidator(_dns_label),
    Rule("K8sName", "a DNS-1123 label: lower-case letters, digits and '-', starting and ending with "
         "a letter or digit, at most 63 characters"),
]  # fmt: skip
"""A DNS-1123 label: namespace, service, container and job names."""

CronJobName = Annotated[
    str,
    AfterValidator(_dns_label),
    AfterValidator(_cron_job_name),
    Rule("CronJobName", f"a K8sName of at most {CRON_JOB_NAME_MAX_LENGTH} characters: Kubernetes names each "
         "Job of a CronJob after it with 11 characters more, within a 63-character label"),
]  # fmt: skip
"""A job's name, which is its CronJob's name."""

HttpPath = Annotated[
    str,
    AfterValidator(_regex(_HTTP_PATH, "an HTTP path: '/' then printable ASCII, no space")),
    Rule("HttpPath", "an HTTP path: '/' then printable ASCII characters, no space or control character"),
]
"""A path a probe asks and nginx routes, e.g. '/healthz'."""

Quantity = Annotated[
    str,
    AfterValidator(_quantity),
    Rule("Quantity", "a Kubernetes quantity such as '250m' or '0.5' (CPU), '512Mi' or '1Gi'"),
]
"""A Kubernetes resource quantity such as '250m' or '512Mi'."""

PinnedImage = Annotated[
    str,
    AfterValidator(_image),
    Rule("PinnedImage", "a container image reference as the OCI distribution grammar spells it (ASCII, "
         "lower-case path, optional registry host and port), pinned by a tag other than 'latest' that is also "
         "a valid label value ('name:tag', the tag at most 63 characters) or by digest ('name@sha256:<64 hex>')"),
]  # fmt: skip
"""A container image pinned by tag (not 'latest') or by digest."""

ImageName = Annotated[
    str,
    AfterValidator(_image_name),
    Rule("ImageName", "an image name without tag or digest, as the OCI distribution reference grammar spells it "
         "(lower-case path, optional registry host and port)"),
]  # fmt: skip
"""An image name without tag or digest, e.g. 'ghcr.io/example-org/admin-app'."""

ImageTag = Annotated[
    str,
    AfterValidator(_image_tag),
    Rule("ImageTag", "an image tag other than 'latest': ASCII [A-Za-z0-9_.-], at most 128"),
]
"""An image tag other than 'latest', e.g. '1.8.2' or 'dev'."""

CronSchedule = Annotated[
    str,
    AfterValidator(_cron_schedule),
    Rule("CronSchedule", "a 5-field cron schedule 'minute hour day-of-month month day-of-week', each value in range"),
]
"""A standard 5-field cron schedule."""

TimeZone = Annotated[str, AfterValidator(_time_zone), Rule("TimeZone", "an IANA time zone name such as 'Asia/Tokyo'")]
"""An IANA time zone name."""

Cidr = Annotated[str, AfterValidator(_cidr), Rule("Cidr", "a network address in CIDR form such as '10.0.0.0/16'")]
IpAddress = Annotated[str, AfterValidator(_ip), Rule("IpAddress", "an IPv4 or IPv6 address")]
ObjectId = Annotated[
    str,
    AfterValidator(_regex(_UUID, "an Entra ID object ID (a GUID)")),
    Rule("ObjectId", "an Entra ID object ID (a GUID)"),
]
ClockTime = Annotated[
    str, AfterValidator(_regex(_HH_MM, "a 24-hour time 'HH:MM'")), Rule("ClockTime", "a 24-hour time 'HH:MM'")
]
Port = Annotated[
    int, Field(ge=1024, le=65535, description="An unprivileged TCP port."), Rule("Port", "a TCP port, 1024-65535")
]
EnvVarName = Annotated[
    str,
    AfterValidator(_regex(_ENV_NAME, "a valid environment variable name")),
    Rule("EnvVarName", "an environment variable name: a letter or '_', then letters, digits or '_'"),
]
"""A POSIX-style environment variable name such as 'DATABASE_URL'."""

MinorVersion = Annotated[
    str,
    AfterValidator(_regex(_MINOR_VERSION, "a Kubernetes MAJOR.MINOR version such as '1.34'")),
    Rule("MinorVersion", "a Kubernetes MAJOR.MINOR version such as '1.34'"),
]
PatchVersion = Annotated[
    str,
    AfterValidator(_regex(_PATCH_VERSION, "a Kubernetes MAJOR.MINOR.PATCH version such as '1.34.4'")),
    Rule("PatchVersion", "a Kubernetes MAJOR.MINOR.PATCH version such as '1.34.4'"),
]


def minor_of(version: str) -> str:
    """'1.34.4' -> '1.34'; '1.34' -> '1.34'."""
    return ".".join(version.split(".")[:2])


# Suffixes of a Kubernetes quantity and their factors (apimachinery resource.Quantity:
# kubernetes/apimachinery pkg/api/resource/suffix.go, decimal SI and binary IEC suffixes).
_QUANTITY_FACTORS = {
    "": Fraction(1), "m": Fraction(1, 1000),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
    "Ki": Fraction(2**10), "Mi": Fraction(2**20), "Gi": Fraction(2**30), "Ti": Fraction(2**40),
    "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}  # fmt: skip


def quantity_value(quantity: str) -> Fraction:
    """'250m' -> 1/4, '1Gi' -> 1073741824: a validated Quantity as an exact number."""
    match = _QUANTITY.fullmatch(quantity)
    if not match:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity")
    return Fraction(match.group(1)) * _QUANTITY_FACTORS[match.group(3) or ""]


def split_image(image: str) -> tuple[str, str]:
    """'ghcr.io/org/app:1.2' -> ('ghcr.io/org/app', ':1.2'); 'app@sha256:...' -> ('app', '@sha256:...').
    The name ends at the first '@', or else at a ':' after the last '/' (a registry port is not a tag)."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, "@" + digest
    head, _, last = image.rpartition("/")
    if ":" in last:
        last, tag = last.split(":", 1)
        return f"{head}/{last}" if head else last, ":" + tag
    return image, ""
