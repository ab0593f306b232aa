"""The local API through which the flat's Home Assistant talks to its sidecar."""
