"""The MQTT side: private broker supervision, the collector's client and read path, ingest."""
