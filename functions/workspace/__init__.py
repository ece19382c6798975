"""Bits' workspace: the pages signed-in staff work cases from (the work queue, the case view)."""
