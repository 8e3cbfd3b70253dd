"""Configuration: ipsec.conf, ipsec.secrets and their YAML form, turned into frozen dataclasses.

The daemon calls ``load_config()`` (``.yaml``/``.yml`` paths read the YAML form) and reads
``IpsecConf.setup`` (a ``SetupConfig``) and ``IpsecConf.conns`` (``Connection`` objects, whose
``ike``/``esp`` are parsed ``ProposalSet``s); ``load_secrets()`` gives a ``Secrets`` store with
``lookup_psk()``. Nothing here touches the engine, the kernel or the network.
"""

from __future__ import annotations

from pluto_core.config.connection import Connection, End, orient
from pluto_core.config.identity import Identity, IdType, parse_id
from pluto_core.config.ipsec_conf import load_config, parse_config
from pluto_core.config.loader import IpsecConf
from pluto_core.config.proposals import Proposal, ProposalError, ProposalSet, default_proposals, parse_proposals
from pluto_core.config.setup_config import SetupConfig
from pluto_core.config.yaml_conf import load_yaml_config

__all__ = [
    "Connection",
    "End",
    "IdType",
    "Identity",
    "IpsecConf",
    "Proposal",
    "ProposalError",
    "ProposalSet",
    "SetupConfig",
    "default_proposals",
    "load_config",
    "load_yaml_config",
    "orient",
    "parse_config",
    "parse_id",
    "parse_proposals",
]
