"""Values the schema gives meaning to, importable without SQLAlchemy."""

NO_ITEM = -1
"""The ``item`` of an attempt, log line or change of a step without ``foreach``."""

NO_STEP = ""
"""The ``step`` of a log line or context change made outside any step."""
