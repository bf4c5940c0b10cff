"""shiftlab.report (being written)."""
