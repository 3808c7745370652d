"""gelfingest: GELF in, Elasticsearch out, every event stamped with a fleet-unique sequence number."""

__version__ = "0.1.0"
