"""shiftlab.selection (being written)."""
