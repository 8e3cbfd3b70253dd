"""``SetupConfig``: the ``config setup`` section as one frozen dataclass.

One attribute per keyword (``-`` becomes ``_``), ``None`` when the file does not set it; yes/no
keywords are ``bool``, counts ``int``, times ``int`` seconds, the rest ``str``. ``default(name)``
gives Libreswan's default for an unset keyword. ``ikeport``/``nat_ikeport`` are not file keywords
(Libreswan takes them on the command line); they are here so the daemon has one place to read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pluto_core.config.keywords import setup_keywords

__all__ = ["SetupConfig"]


@dataclass(frozen=True, slots=True)
class SetupConfig:
    """Typed ``config setup`` values; see docs/config.md for which ones pluto acts on."""

    ikev1_policy: str | None = None
    curl_iface: str | None = None
    myvendorid: str | None = None
    plutodebug: str | None = None
    logfile: str | None = None
    loglimit: bool | None = None
    logtime: bool | None = None
    logappend: bool | None = None
    logip: bool | None = None
    audit_log: bool | None = None
    dnssec_enable: bool | None = None
    dnssec_rootkey_file: str | None = None
    dnssec_anchors: str | None = None
    dumpdir: str | None = None
    ipsecdir: str | None = None
    nssdir: str | None = None
    exampledir: str | None = None
    rundir: str | None = None
    logstderr: bool | None = None
    secretsfile: str | None = None
    statsbin: str | None = None
    uniqueids: bool | None = None
    shuntlifetime: int | None = None
    global_redirect: str | None = None
    global_redirect_to: str | None = None
    crl_strict: bool | None = None
    crlcheckinterval: int | None = None
    crl_timeout: int | None = None
    ocsp_strict: bool | None = None
    ocsp_enable: bool | None = None
    ocsp_uri: str | None = None
    ocsp_timeout: int | None = None
    ocsp_trustname: str | None = None
    ocsp_cache_size: int | None = None
    ocsp_cache_min_age: int | None = None
    ocsp_cache_max_age: int | None = None
    ocsp_method: str | None = None
    seccomp: str | None = None
    ddos_mode: str | None = None
    ddos_ike_threshold: int | None = None
    max_halfopen_ike: int | None = None
    auth_sources: str | None = None  # ours: the auth sources asked, in order (pluto_core.auth)
    auth_timeout: int | None = None
    ike_socket_bufsize: int | None = None
    ike_socket_errqueue: bool | None = None
    expire_lifetime: int | None = None
    virtual_private: str | None = None
    seeddev: str | None = None
    seedbits: int | None = None
    keep_alive: int | None = None
    listen_tcp: bool | None = None
    listen_udp: bool | None = None
    listen: str | None = None
    protostack: str | None = None
    nhelpers: int | None = None
    drop_oppo_null: bool | None = None
    expire_shunt_interval: int | None = None
    dns_resolver: str | None = None
    ipsec_interface_managed: bool | None = None
    nflog_all: int | None = None
    ikeport: int | None = None
    nat_ikeport: int | None = None

    def get(self, name: str) -> object:
        """The value of ``name`` (``-`` or ``_`` spelling), or Libreswan's default when unset."""
        attr = name.replace("-", "_")
        value = getattr(self, attr)
        if value is None:
            kw = setup_keywords().get(attr.replace("_", "-"))
            if kw is not None:
                return kw.default
        return value

    def as_dict(self) -> dict[str, object]:
        """Only the keywords that are set, keyed by their ipsec.conf name."""
        return {
            f.name.replace("_", "-"): getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }
