"""shiftlab.bench (being written)."""
