"""IKEv2 engine: pure, sans-I/O code (codec, crypto, exchanges)."""
