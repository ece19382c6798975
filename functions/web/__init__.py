"""The web layer: forms, signed-link pages and HTTP helpers that every process's triggers share."""
