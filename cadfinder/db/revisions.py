"""Which revision of a part is the latest.

Revisions run as drawing letters do (A ... Z, then AA, AB ...) or as numbers, so a longer
revision is the later one; plain text order would put "AA" before "B" and "10" before "9".
"""

NEWEST_FIRST = "length(revision) DESC, revision DESC"
LATEST = f"ORDER BY {NEWEST_FIRST} LIMIT 1"  # appended to a part's rows

