"""DatadogMonitors: the monitors that make self-healing safe, as code.

This is the only module that imports pulumi_datadog, and __main__ imports it
only in stacks that enable monitors: the SDK costs about 11 s and 240 MB."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_datadog as datadog

from components.datadog.monitor_spec import RENOTIFY_MINUTES, REQUIRE_FULL_WINDOW, MonitorSpec
from components.moves import moved_from
from settings.datadog.agents import DatadogSettings


@dataclass(frozen=True)
class DatadogMonitorsArgs:
    settings: DatadogSettings
    monitors: list[MonitorSpec]
    """Every monitor of the stack (components/service/monitors.py `monitor_specs`)."""
    api_key: pulumi.Output[str]
    app_key: pulumi.Output[str]


class DatadogMonitors(pulumi.ComponentResource):
    """A Datadog provider configured from stack config, and one Monitor per spec."""

    monitor_ids: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: DatadogMonitorsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(
            "platform:datadog:DatadogMonitors", name, None, moved_from("platform:observability:DatadogMonitors", opts)
        )
        self._args = args
        provider = datadog.Provider(
            f"{name}-provider",
            api_key=args.api_key,
            app_key=args.app_key,
            api_url=f"https://api.{args.settings.site}/",
            # Checks the API and app keys at start-up, nothing more (pulumi/pulumi-datadog
            # provider.py `validate`); queries are validated per Monitor below.
            validate="true",
            opts=pulumi.ResourceOptions(parent=self),
        )
        monitors = {spec.key: self._build_monitor(spec, provider) for spec in args.monitors}
        self.monitor_ids = pulumi.Output.all(**{key: m.id for key, m in monitors.items()})
        self.register_outputs({"monitorIds": self.monitor_ids})

    def _build_monitor(self, spec: MonitorSpec, provider: datadog.Provider) -> datadog.Monitor:
        thresholds = {"critical": str(spec.critical)}
        for level, value in (("ok", spec.ok), ("warning", spec.warning)):
            if value is not None:
                thresholds[level] = str(value)
        return datadog.Monitor(
            spec.key,
            name=spec.name,
            type=spec.type,
            query=spec.query,
            message=spec.message,
            tags=list(spec.tags),
            priority=str(spec.priority),
            monitor_thresholds=thresholds,
            notify_no_data=spec.notify_no_data,
            no_data_timeframe=spec.no_data_timeframe,
            timeout_h=spec.timeout_h,
            new_group_delay=spec.new_group_delay,
            # Datadog's monitor-validate API checks the query during preview, so
            # a bad query fails the preview instead of creating a broken monitor
            # (pulumi-datadog 5.17 Monitor `validate`: "skip the validation call
            # done during plan" when false; terraform-provider-datadog
            # resource_datadog_monitor.go CustomizeDiff). The default is on; set for clarity.
            validate=True,
            include_tags=True,
            require_full_window=REQUIRE_FULL_WINDOW,
            renotify_interval=RENOTIFY_MINUTES,
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
