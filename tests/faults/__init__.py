"""Fault injection: crashes, full and read-only disks, hostile input, clock jumps, a stolen
key, network faults and misbehaving devices, each against real processes."""
