"""Placeholder: methods of this family are being written."""
