"""`indicators_json`: the text `json.dumps` gives an indicators dict, about twice as fast.

Every BarProcessed row stores its indicators dict as JSON; `json.dumps` was the recorder's
largest Python cost. A strategy's dicts always have the same str keys in the same order and float
values, so the text is a cached `%s` template per key tuple filled with `float.__repr__` of the
values (which is what json writes for a finite float). Anything else (NaN/inf, ints, bools, None,
non-str keys, nesting) takes `json.dumps`, so the output is byte-identical in every case.
"""

from __future__ import annotations

import json
import math
from typing import Any

_INF = math.inf
_MAX_TEMPLATES = 1024  # key sets seen; bounded so that ever-changing keys cannot grow it forever
_templates: dict[tuple[Any, ...], str | None] = {}


def _template(keys: tuple[Any, ...]) -> str | None:
    """`{"k1": %s, "k2": %s}` for all-str keys (json's key escaping, `%` doubled), else None."""
    if not keys or any(type(k) is not str for k in keys):
        return None
    parts = (json.dumps(k).replace("%", "%%") + ": %s" for k in keys)
    return "{" + ", ".join(parts) + "}"


def indicators_json(d: Any) -> str:
    """`json.dumps(d)`, with a fast path for a dict of str keys to finite floats."""
    if type(d) is dict:
        keys = tuple(d)
        try:
            fmt = _templates[keys]
        except KeyError:
            fmt = _template(keys)
            if len(_templates) < _MAX_TEMPLATES:
                _templates[keys] = fmt
        if fmt is not None:
            values = tuple(d.values())
            for v in values:
                if type(v) is not float:
                    break
            else:
                # a finite sum means no NaN or inf among the values (an overflow just falls back)
                if -_INF < sum(values) < _INF:
                    return fmt % values
    return json.dumps(d)
