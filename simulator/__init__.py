"""A flat, or a building of flats, as real Modbus TCP servers with physics.

For tests, demos and installers trying Local VPP without hardware. A flat on its
own is a building of one. The packages are layers: ``physics`` (the world),
``model`` (flats and buildings), ``modbus`` (their registers and the server); the
top ties them together (``Simulator``, the control API, the threaded runner and the
command line).

The simulator is its own program: it never imports the integration or the sidecar.
"""

__version__ = "0.1.0"
