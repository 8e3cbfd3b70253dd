"""Log sinks: stderr, a log file, syslog (facility authpriv). Each is a plugin."""
