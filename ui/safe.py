"""Showing user-typed text safely: markdown escaping for st.markdown/caption/alerts, CSV cells for exports.

Streamlit renders the text of st.markdown, st.caption, st.info/warning/error/success, st.title and
widget labels as markdown (plus :color[...] directives, :emoji: codes and $LaTeX$), so a name such as
`**Acme** [pay here](http://x)` would be formatted and linked. Pass user text through `md()` there,
or show it with st.text / st.dataframe, which do not interpret it.
"""

from __future__ import annotations

import re

import pandas as pd

from models.csvsafe import neutralize as csv_cell  # the one guard, shared with every export

# Any ASCII punctuation may be backslash-escaped in CommonMark. These mean something anywhere in a line
# of Streamlit markdown (':' starts directives and emoji codes, '$' LaTeX, '&' entities, '|' tables);
# '[' and '<' cover links and HTML, so '(' '!' need no escape. Block markers matter only at the start.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>~$:|&])")
_MD_BLOCK_START = re.compile(r"^(\s*)([#+\-=]|\d+[.)])")


def md(text) -> str:
    """User text as literal markdown: every special character escaped, newlines kept as spaces."""
    value = "" if text is None else str(text)
    value = value.replace("\r", " ").replace("\n", " ")
    value = _MD_SPECIAL.sub(r"\\\1", value)
    return _MD_BLOCK_START.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], value)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A DataFrame as UTF-8 CSV for a download button, text cells guarded against formulas."""
    safe = frame.copy()
    for column in safe.columns:
        if pd.api.types.is_object_dtype(safe[column]) or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(csv_cell)
    return safe.to_csv(index=False).encode("utf-8")
