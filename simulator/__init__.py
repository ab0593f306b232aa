"""A flat as a real Modbus TCP server with physics, for tests, demos and installers.

The simulator is its own program: it never imports the integration or the sidecar.
"""

__version__ = "0.1.0"
