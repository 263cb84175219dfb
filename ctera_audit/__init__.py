"""ctera-audit: follow a CTERA Portal's file events into a Parquet dataset.

The public face is what this module exports; everything else may change.
"""

from __future__ import annotations

from .analysis import load
from .collector import Collector, CollectorSettings
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
from .runner import DemoPortal, PortalLogin, collect, collect_async

__all__ = [
    "AuthenticationError",
    "BackgroundCollection",
    "CloudFolderRef",
    "Collector",
    "CollectorSettings",
    "CteraAuditError",
    "DemoPortal",
    "Event",
    "FatalError",
    "NotificationService",
    "Page",
    "Portal",
    "PortalLogin",
    "RetryPolicy",
    "ServiceStatistics",
    "SkippableError",
    "TransientError",
    "collect",
    "collect_async",
    "load",
    "start_collection",
]
