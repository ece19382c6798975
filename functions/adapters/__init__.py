"""Adapters: the only code that touches an SDK or the filesystem (Table and Blob Storage, Graph, local mail)."""
