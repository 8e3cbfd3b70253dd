"""Linux XFRM kernel backend over netlink (import name ``pluto_xfrm``; ``--use-xfrm``)."""
