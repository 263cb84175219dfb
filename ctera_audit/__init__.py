"""ctera-audit: follow a CTERA Portal's file events into a Parquet dataset.

The public face is what this module exports; everything else may change.
"""

from __future__ import annotations

from typing import Any

from .collector import Collector, CollectorSettings
from .dataset.storage import S3Options
from .errors import (
    AuthenticationError,
    CteraAuditError,
    FatalError,
    SkippableError,
    TransientError,
)
from .events import Event
from .notebook import BackgroundCollection, start_collection
from .notifications import NotificationService, ServiceStatistics
from .pages import Page
from .portal import CloudFolderRef, Portal
from .retry import RetryPolicy
from .runner import (
    ContentSettings,
    DemoPortal,
    Destination,
    PortalLogin,
    StreamPlan,
    collect,
    collect_async,
)
from .streams import MultiStreamCollector

__all__ = [
    "AuthenticationError",
    "BackgroundCollection",
    "CloudFolderRef",
    "Collector",
    "CollectorSettings",
    "ContentSettings",
    "CteraAuditError",
    "DemoPortal",
    "Destination",
    "Event",
    "FatalError",
    "MultiStreamCollector",
    "NotificationService",
    "Page",
    "Portal",
    "PortalLogin",
    "RetryPolicy",
    "S3Options",
    "ServiceStatistics",
    "SkippableError",
    "StreamPlan",
    "TransientError",
    "collect",
    "collect_async",
    "load",
    "start_collection",
]


def __getattr__(name: str) -> Any:
    """Import the analysis layer on first use: it loads pandas, which collecting
    does not need and which would add half a second to every command's start."""
    if name == "load":
        from .analysis import load

        return load
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
