"""Segments: static lists and dynamic rules over customers, and the condition language
that branches, entry rules and segments share (evaluated in Python, compiled to SQL)."""
