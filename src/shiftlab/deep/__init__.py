"""shiftlab.deep (being written)."""
