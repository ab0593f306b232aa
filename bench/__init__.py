"""The benchmarks, each run as ``python bench/<name>.py [--quick]``, and their parts.

A benchmark prints readable lines and, as its very last line, one JSON object. The
modules without a ``main`` are parts of one benchmark:

- :mod:`bench.group_flat`, :mod:`bench.group_building`, :mod:`bench.group_phases`:
  the group discharge (:mod:`bench.group_discharge`): one flat's sidecar and the
  Home Assistant this process plays for it; the simulated building of them; the
  phases measured on it.
- :mod:`bench.mesh_building`: the mesh latency (:mod:`bench.mesh_latency`): sidecar
  processes fed samples at a rate, one of them profiled if asked.
- :mod:`bench.baselines`: bare operations (a signature verification, a commit, a
  WebSocket echo) measured beside the figures.
"""
