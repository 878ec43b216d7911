"""The bench's own SQL (seeding, probes, counters, the bare-SQL ceiling), one statement per file.

The library's statements live in :mod:`pgqueue._sql`; nothing here runs outside ``pgqueue bench``.
"""

from ..._sql import loader

query = loader(__name__)
