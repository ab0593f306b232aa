"""Battery traceability: what a flat's own signed flows say about its battery.

One idea per module:

* :mod:`.points`: the battery's part of one flow entry;
* :mod:`.segments`: charge, discharge and rest stretches, summed per local day;
* :mod:`.figures`: energy, cycles, round-trip efficiency, capacity and
  self-discharge over a window of days, in exact integer arithmetic;
* :mod:`.anomalies`: the rules that flag a battery, each with its evidence;
* :mod:`.tracker`: the incremental updater, one entry at a time;
* :mod:`.passport`: the signed battery passport and its offline check.

Every node that holds a flat's feed computes the same figures from it.
"""
