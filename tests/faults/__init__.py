"""Fault injection against real processes: crashes, full and read-only disks, hostile
input, clock jumps, a stolen key, network faults and misbehaving devices."""
