"""A building of flats without networking: set-up, physics of each flat, snapshots.

Also what can be done to a building by name, and scenarios that do it on a timetable.
"""
