"""ctera-audit: follow a CTERA Portal's file events into a Parquet dataset.

The public face is what this module exports; everything else may change.
"""

from __future__ import annotations

from .errors import (
    AuthenticationError,
    CteraAuditError,
    FatalError,
    SkippableError,
    TransientError,
)
from .events import Event
from .notifications import NotificationService, ServiceStatistics
from .portal import CloudFolderRef, Page, Portal
from .retry import RetryPolicy

__all__ = [
    "AuthenticationError",
    "CloudFolderRef",
    "CteraAuditError",
    "Event",
    "FatalError",
    "NotificationService",
    "Page",
    "Portal",
    "RetryPolicy",
    "ServiceStatistics",
    "SkippableError",
    "TransientError",
]
