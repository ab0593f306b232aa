"""A flat, or a building of flats, as real Modbus TCP servers with physics.

For tests, demos and installers trying Local VPP without hardware.

The simulator is its own program: it never imports the integration or the sidecar.
"""

__version__ = "0.1.0"
