"""X.509 certificates for IKEv2 authentication (issue #17), as pure functions.

- ``dn``: Distinguished Names in Libreswan's text syntax, to and from DER, with ``*`` wildcards.
- ``ids``: does a certificate back an IKE ID (subject DN, subjectAltName), ``%fromcert``.
- ``verify``: path validation of a peer's certificate chain against trusted CAs (the
  ``cryptography`` verifier with an IKE extension policy), and ``rightca=``.
- ``certreq``: CERTREQ hashes (RFC 7296 3.7), CERT payload data (3.6), ``sendcert=``.

No I/O: the caller loads certificates and supplies the time.
"""
