"""The redact processor: being written (issue 24)."""
