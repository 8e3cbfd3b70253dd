"""Validity in time of the certificates we load ourselves (``leftcert=``, and the peer's
preloaded ``rightcert=``): why one cannot be used now, and how soon one ends.

Libreswan refuses a conn whose ``leftcert=`` or ``rightcert=`` is expired or not yet valid
when it is added (4.10: "left certificate 'west' is expired or not yet valid"; 5.x splits
the two). It does not log ahead of expiry; ``ipsec checkpubkeys`` lists the keys that end
within ``PUBKEY_WARNING_INTERVAL``, 14 days, as "warning (expires in N days)", in days
above two days, then hours, minutes and seconds. Pluto keeps those facts (the same window,
the same units) and logs them (docs/certificates.md "Expiry").

Pure: the caller passes the time (UTC), so tests need no fake clock.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from pluto_core.x509.dn import dn_text

# Libreswan's PUBKEY_WARNING_INTERVAL (include/certs.h): a certificate that ends within it is
# flagged by `ipsec checkpubkeys`; pluto logs it at add time and daily. No config keyword:
# Libreswan has none.
WARNING_WINDOW = dt.timedelta(days=14)


def utc_text(t: dt.datetime) -> str:
    """``2026-11-30 12:00:00 UTC``, the form the path validator's refusals use."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def subject_text(cert: x509.Certificate) -> str:
    return dn_text(cert.subject.public_bytes())


def describe(keyword: str, name: str, cert: x509.Certificate) -> str:
    """``leftcert=west.pem (C=CA, CN=west)``: what the operator wrote, and which certificate it gave."""
    return f"{keyword}={name} ({subject_text(cert)})"


def unusable(cert: x509.Certificate, now: dt.datetime) -> str | None:
    """Why ``cert`` cannot be used at ``now`` (``expired on ...``, ``is not valid before ...``),
    or None. The bounds are inclusive, as RFC 5280 4.1.2.5 has them."""
    if now > cert.not_valid_after_utc:
        return f"expired on {utc_text(cert.not_valid_after_utc)}"
    if now < cert.not_valid_before_utc:
        return f"is not valid before {utc_text(cert.not_valid_before_utc)}"
    return None


def time_left(left: dt.timedelta) -> str:
    """``5 days``, ``47 hours``, ``1 minute``: whole units, days above two days, then hours above
    two hours, minutes above two minutes, else seconds (as ``ipsec checkpubkeys`` counts)."""
    seconds = max(int(left.total_seconds()), 0)
    unit, count = next(((unit, seconds // size) for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60))
                        if seconds > 2 * size), ("second", seconds))
    return f"{count} {unit}{'' if count == 1 else 's'}"


def notice(cert: x509.Certificate, now: dt.datetime, window: dt.timedelta = WARNING_WINDOW) -> str | None:
    """What to log about ``cert`` at ``now``: why it is unusable, or ``expires in 5 days, on
    ...`` when it ends within ``window``; None for a certificate far from its end."""
    why = unusable(cert, now)
    if why is not None:
        return why
    left = cert.not_valid_after_utc - now
    if left > window:
        return None
    return f"expires in {time_left(left)}, on {utc_text(cert.not_valid_after_utc)}"
