"""XFRM interfaces (``ipsecN``, Linux 4.19+, ``CONFIG_XFRM_INTERFACE``) over NETLINK_ROUTE.

A route-based VPN (``ipsec-interface=N``) sends what is routed into ``ipsecN`` through the
SAs and policies that carry the interface's ``if_id``, and delivers what they decrypt from it.
The interface is an rtnetlink link of kind ``xfrm`` (``IFLA_XFRM_IF_ID``); pyroute2's
``ifinfmsg`` describes the messages, our synchronous socket (:mod:`pluto_xfrm.netlink`) sends
them, for the reason given there. Pure message builders here; the requests are in the plugin.
"""

from __future__ import annotations

from typing import Any

from pyroute2.netlink import NLM_F_CREATE, NLM_F_EXCL
from pyroute2.netlink.rtnl import RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

__all__ = ["IFF_UP", "NETLINK_ROUTE", "RTM_DELLINK", "RTM_GETLINK", "RTM_NEWLINK", "CREATE", "marshal",
           "new_link", "get_link", "del_link", "link_kind"]

NETLINK_ROUTE = 0
IFF_UP = 0x1
CREATE = NLM_F_CREATE | NLM_F_EXCL  # never take over a link someone else creates meanwhile


def marshal() -> MarshalRtnl:
    return MarshalRtnl()


def new_link(name: str, if_id: int) -> ifinfmsg:
    """RTM_NEWLINK for ``name`` of kind ``xfrm`` with ``if_id``, created up (``ip link add
    NAME type xfrm if_id N`` then ``ip link set NAME up``). No underlying device
    (``IFLA_XFRM_LINK``): the interface is not tied to one, as Libreswan creates it."""
    msg = ifinfmsg()
    msg["family"] = 0
    msg["flags"] = IFF_UP
    msg["change"] = IFF_UP
    msg["attrs"] = [("IFLA_IFNAME", name),
                    ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "xfrm"),
                                                 ("IFLA_INFO_DATA", {"attrs": [("IFLA_XFRM_IF_ID", if_id)]})]})]
    return msg


def get_link(name: str) -> ifinfmsg:
    """RTM_GETLINK by name."""
    msg = ifinfmsg()
    msg["family"] = 0
    msg["attrs"] = [("IFLA_IFNAME", name)]
    return msg


def del_link(name: str) -> ifinfmsg:
    """RTM_DELLINK by name."""
    return get_link(name)


def link_kind(answer: Any) -> tuple[str | None, int | None]:
    """The kind (``xfrm``, ``vti``, None for a plain device) and XFRM ``if_id`` of a
    RTM_NEWLINK answer to :func:`get_link`."""
    info = answer.get_attr("IFLA_LINKINFO")
    if info is None:
        return None, None
    kind = info.get_attr("IFLA_INFO_KIND")
    data = info.get_attr("IFLA_INFO_DATA")
    if kind != "xfrm" or data is None or not hasattr(data, "get_attr"):
        return kind, None
    return kind, data.get_attr("IFLA_XFRM_IF_ID")
