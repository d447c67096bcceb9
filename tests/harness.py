"""The offline evaluation engine, as the tests use it (see tools/offline.py)."""

from tools.offline import *
from tools.offline import (
    ROOT,
    SERVER_ID,
    STACKS,
    TENANT_ID,
    TEST_SECRETS,
    Evaluation,
    PlatformMocks,
    RecordingMonitor,
    Registration,
    default_secrets,
    devicecode_kubeconfig,
    engine_config,
    evaluate,
    is_secret,
    patched_stack_file,
    project_config,
    registrations_of_last_evaluation,
    stack_file_config,
    to_manifest,
    unwrap_secrets,
)
