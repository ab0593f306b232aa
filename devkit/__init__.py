"""What the tests, the benchmarks and the demo share to run the programs for real.

devkit starts sidecar and simulator processes and talks to them over their
protocols (command line, local API, HTTP, the files they write); it imports none of
the three programs, so it works the same whatever their insides look like.

- :mod:`devkit.ports`: free TCP ports on 127.0.0.1.
- :mod:`devkit.waiting`: wait until a condition holds or a port answers.
- :mod:`devkit.clock`: the wall clock in ms that the sidecars sign with.
- :mod:`devkit.processes`: start a program, wait for its ready line, stop it.
- :mod:`devkit.sidecar_node`: one ``python -m sidecar`` node: its files and its process.
- :mod:`devkit.local_api`: a client of a node's local API (hello, samples, requests).
- :mod:`devkit.building`: a building of sidecar nodes with one roster.
- :mod:`devkit.node_db`: reading a node's ledger database beside the running node.
- :mod:`devkit.simulator_process`: a flat simulator in its own process.
- :mod:`devkit.measure`: percentiles and CPU time (of processes, of the machine), for
  the benchmarks.
"""
