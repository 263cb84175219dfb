"""TLS verification settings in the form httpx takes."""

from __future__ import annotations

import ssl

from .errors import ConfigurationError


def tls_verification(verify: bool | str) -> bool | ssl.SSLContext:
    """Turn a verification choice into what httpx accepts.

    ``True`` verifies against the system's trust store, ``False`` does not
    verify (test portals only), and a path names a CA bundle to trust.
    """
    if not isinstance(verify, str):
        return verify

    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as error:
        raise ConfigurationError(
            f"the CA bundle {verify!r} cannot be read ({error}); give the path of a "
            "PEM file holding the certificates to trust"
        ) from error
