"""The one exception hierarchy of ctera-audit.

Every error a user can see derives from :class:`CteraAuditError`. The three families
say what an operator should do about it:

* :class:`TransientError` -- try again later; the library already retried.
* :class:`FatalError` -- stop and fix something (credentials, configuration, input).
* :class:`SkippableError` -- one item could not be processed; the stream goes on and
  the item's row records why.

Foreign exceptions (httpx, pyarrow, OS errors) are caught at the boundary and
re-raised as one of these, chained with ``from``.
"""

from __future__ import annotations


class CteraAuditError(Exception):
    """Root of every exception raised by ctera-audit."""


class TransientError(CteraAuditError):
    """A failure that may pass by itself; retrying later is the right response."""


class FatalError(CteraAuditError):
    """A failure that will not pass by itself; something must be fixed first."""


class SkippableError(CteraAuditError):
    """One item failed; the stream continues and the item is marked."""


class PortalUnavailableError(TransientError):
    """The portal could not be reached or kept failing after every retry."""


class AuthenticationError(FatalError):
    """The portal refused the credentials."""


class CertificateError(FatalError):
    """The portal's TLS certificate is not trusted."""


class SessionError(FatalError):
    """The portal session could not be re-established."""


class TooManyFoldersError(FatalError):
    """A notification request named more cloud folders than the portal allows.

    Attributes:
        requested: how many folder ids the request carried.
        min_size: the smallest count the portal accepts.
        max_size: the largest count the portal accepts.
    """

    def __init__(self, requested: int, min_size: int, max_size: int) -> None:
        self.requested = requested
        self.min_size = min_size
        self.max_size = max_size
        super().__init__(
            f"{requested} cloud folders were requested but the portal accepts at most "
            f"{max_size} per request; split the folders into groups of {max_size} or "
            "fewer and run one stream per group."
        )


class FolderNotFoundError(FatalError):
    """A cloud folder named by owner and name does not exist on the portal."""


class ProtocolError(FatalError):
    """The portal answered with something this client cannot understand.

    The page or answer is rejected whole and no cursor moves past it.
    """


class PortalRequestError(FatalError):
    """The portal answered a request with an error status that retrying cannot fix.

    Attributes:
        status: the HTTP status code.
    """

    def __init__(self, message: str, status: int) -> None:
        self.status = status
        super().__init__(message)


class AncestorsUnavailableError(SkippableError):
    """The portal could not name an object's parents (unknown or deleted object)."""


class ConfigurationError(FatalError):
    """An option or argument is invalid; the message names it and the fix."""


class DatasetError(FatalError):
    """The dataset on disk cannot be written or does not match this collection."""


class ContentError(SkippableError):
    """A file's content could not be captured; its row records why."""
