"""Loom from Python: compile a Hugging Face checkpoint, run the artifact, get logits as NumPy.

    import loom
    loom.compile("checkpoint/", "model.loom", target="host", quant="q4g32")
    model = loom.Model("model.loom", threads=2)
    session = model.session(seed=7)
    for piece in session.generate("Describe <|image|>", images=["photo.png"], max_tokens=32):
        print(piece, end="")
    logits = session.prefill(model.tokenize("<bos>Hello"), all_logits=True)  # (2, vocab)

docs/PYTHON.md has the whole API; every failure of the runtime or the compiler is a
``LoomError`` carrying its message.
"""

from __future__ import annotations

import os

from ._runtime import LoomError, Tokenizer
from . import media
from .compiler import compile
from .media import AudioLike, ImageLike
from .model import Batch, Generation, Model, Session

__all__ = ["LoomError", "Model", "Session", "Batch", "Generation", "Tokenizer", "compile", "tokenizer",
           "media", "ImageLike", "AudioLike"]
__version__ = "0.1.0"


def tokenizer(path: str | os.PathLike) -> Tokenizer:
    """The tokenizer of a tokenizer.json file or of a ``.loom`` artifact: ``encode(text,
    add_bos=False)`` gives int32 ids, ``decode(ids, skip_special_tokens=False)`` text."""
    return Tokenizer(os.fspath(path))
