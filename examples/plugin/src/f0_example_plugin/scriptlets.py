"""The plugin's scriptlets. Each is a BaseScriptlet subclass with a pydantic ``Params`` model."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from framework0 import BaseScriptlet, Context

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


class WordCount(BaseScriptlet):
    """Count the lines, words and characters of a text or a file, and its most common words.

    Args: ``text`` (the text itself) or ``path`` (a UTF-8 file, relative to the working directory) -
    exactly one; ``top`` (how many of the most common words to return, default 3); ``ignore_case``
    (default true). Returns ``{"lines", "words", "chars", "top": [[word, count], ...]}``, the most
    common words first (ties in order of first appearance), and records the word count in the
    context as ``word_count.<step name>``.
    """

    class Params(BaseScriptlet.Params):
        text: str | None = Field(default=None, description="The text to count.")
        path: str | None = Field(default=None, description="A UTF-8 text file to count instead.")
        top: int = Field(default=3, ge=0, description="How many of the most common words to return.")
        ignore_case: bool = Field(default=True, description="Count 'The' and 'the' as one word.")

        @model_validator(mode="after")
        def _text_or_path(self) -> WordCount.Params:
            if (self.text is None) == (self.path is None):
                raise ValueError("give exactly one of 'text' or 'path'")
            return self

    def run(self, ctx: Context, params: Params) -> dict[str, Any]:
        if params.path is not None:
            text = Path(params.path).read_text(encoding="utf-8")
        else:
            text = params.text or ""
        words = _WORD.findall(text.lower() if params.ignore_case else text)
        # One key per step, so that steps counting in parallel never overwrite each other.
        ctx.set(f"word_count.{self.step_name}", len(words))
        return {
            "lines": len(text.splitlines()),
            "words": len(words),
            "chars": len(text),
            "top": [[word, count] for word, count in Counter(words).most_common(params.top)],
        }
