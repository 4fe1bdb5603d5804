"""The rule language's bounds: every parser enforces them, so no rule can exhaust a server."""

MAX_RULE_LENGTH = 8000
MAX_LEAVES = 64
MAX_DEPTH = 32  # NOT / parentheses / and-or nesting; deeper is a BAD_USER_INPUT, never a RecursionError
MAX_TIMES = 8  # "at least N times": N is exact up to here (segment's per-period count bitmaps)
MAX_DAYS = 120  # behaviour is kept this long
CONFIDENCE_STEPS = 10  # tag confidence is bucketed by tenths
# Event properties with their own behaviour bitmaps (WHERE filters).
INDEXED_PROPERTIES = ("category", "brand", "channel", "payment_method")
