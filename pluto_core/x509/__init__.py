"""X.509 certificates for IKE authentication: chains, stores and revocation."""
