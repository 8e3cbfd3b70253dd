"""Log lines write an IPv6 endpoint in brackets, as Libreswan's ``str_endpoint`` (its
ikev2-61-any-psk test: ``sent IKE_SA_INIT request to [2001:db8:1:2::23]:UDP/500``)."""

from pluto_core.ikev2.endpoint import endpoint, udp_endpoint


def test_ipv4_bare_ipv6_bracketed() -> None:
    assert endpoint("192.0.2.1", 500) == "192.0.2.1:500"
    assert endpoint("2001:db8:1:2::23", 4500) == "[2001:db8:1:2::23]:4500"
    assert udp_endpoint("192.1.2.23", 500) == "192.1.2.23:UDP/500"
    assert udp_endpoint("2001:db8:1:2::23", 500) == "[2001:db8:1:2::23]:UDP/500"
