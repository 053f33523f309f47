"""Bounds on integers read from requests (query, header, path, body).

Every integer a request carries is range-checked where it is parsed, so that no value
reaches the database driver or Python's int conversions unchecked: an out-of-range value
is a 422 problem naming the field, never an OverflowError (a 500, and a dropped
keep-alive connection).
"""

from __future__ import annotations

# The largest value an INTEGER column holds on both databases (PostgreSQL's int4; SQLite
# stores up to 2**63 - 1). Event seqs, job result sample counts and the like are stored
# in such columns, so no stored value, and no value compared with one, exceeds it.
MAX_STORED_INT = 2**31 - 1
