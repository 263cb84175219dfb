"""ctera-audit: follow a CTERA Portal's file events into a Parquet dataset.

The public face is what this module exports; everything else may change.
"""

from __future__ import annotations

from .analysis import load
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
from .portal import CloudFolderRef, Page, Portal
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
