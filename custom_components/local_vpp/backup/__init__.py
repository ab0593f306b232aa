"""The living-room backup: watch the grid, act in a power cut, undo it after."""
