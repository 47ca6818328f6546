"""Regular expressions the OpenAPI schema states and the server agrees with.

JSON Schema patterns are ECMA 262 regular expressions; Python's differ in small ways
that matter at the edges, such as which characters are whitespace (ECMA's ``\\s`` lacks
U+001C..U+001F and U+0085, which ``str.strip()`` removes, and has U+FEFF, which it
keeps). These are spelled so both read them the same; tests hold them to Python's.
"""

#: Every character ``str.strip()`` removes (``str.isspace``), as a character class body.
PYTHON_WHITESPACE_CLASS = (
    "\\t\\n\\u000b\\u000c\\r\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
#: A string with at least one character that is not whitespace: not blank once stripped.
NOT_BLANK_PATTERN = f"[^{PYTHON_WHITESPACE_CLASS}]"
