"""X.509 certificates for IKEv2 authentication (issue #17).

- ``dn``: Distinguished Names in Libreswan's text syntax, to and from DER, with ``*`` wildcards.
- ``ids``: does a certificate back an IKE ID (subject DN, subjectAltName), ``%fromcert``.
- ``verify``: path validation of a peer's certificate chain against trusted CAs (the
  ``cryptography`` verifier with an IKE extension policy), and ``rightca=``.
- ``certreq``: CERTREQ hashes (RFC 7296 3.7), CERT payload data (3.6), ``sendcert=``.
- ``revocation``: CRLs (RFC 5280) and OCSP (RFC 6960), strict or not; blocking, for the
  auth lookup threads, never the event loop.

The first four are pure: the caller loads certificates and supplies the time.
"""
