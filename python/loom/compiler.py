"""``loom.compile``: loom-compile's driver, in this process."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Callable

_PHASES = ("import", "fuse", "quantize", "plan", "codegen", "serialize")
_PHASE_DONE = re.compile(r"^(%s): [0-9.]+ s$" % "|".join(_PHASES))


def compile(checkpoint_dir: str | os.PathLike, out_path: str | os.PathLike, target: str = "host",
            quant: str = "q4g32", *, quant_embedding: str = "q8", max_context: int = 8192,
            fuse: bool = True, tuning: str | os.PathLike | None = None,
            tuning_mismatch: str = "refuse",
            progress: bool | Callable[[str], None] | None = None) -> Path:
    """Compiles a Hugging Face checkpoint folder (config.json, safetensors, tokenizer.json) into
    a ``.loom`` artifact, as ``loom-compile DIR -o OUT --target --quant`` does.

    ``target``: host, x86-64-v3, x86-64-v4, zen4, sapphirerapids, a comma-separated list of
    them, portable, or cuda:sm_80 / cuda:sm_90a. ``quant``: f32, bf16, q8, q4g32 or q4g128.
    ``progress``: a callable receiving loom-compile's progress lines, or True for a tqdm bar
    over the six phases (lines on stderr without tqdm). ``tuning``: a loom-tune record, as
    ``--tuning`` (docs/TUNING.md); ``tuning_mismatch``: "refuse" or "warn" for a record made for
    another target or CPU. Raises ``loom.LoomError`` for a bad checkpoint, target or record; the
    output is then left as it was."""
    from . import _compiler  # MLIR, LLVM and Halide load here, not on `import loom`

    log = progress if callable(progress) else (_phase_bar() if progress else None)
    try:
        _compiler.compile(os.fspath(checkpoint_dir), os.fspath(out_path), target, quant,
                          quant_embedding, max_context, fuse,
                          os.fspath(tuning) if tuning is not None else "", tuning_mismatch, log)
    finally:
        if hasattr(log, "close"):
            log.close()
    return Path(out_path)


class _phase_bar:
    """A tqdm bar advanced by the driver's phase lines, or the lines themselves on stderr."""

    def __init__(self):
        try:
            from tqdm import tqdm
            self._bar = tqdm(total=len(_PHASES), desc="loom.compile", unit="phase")
        except ImportError:
            self._bar = None

    def __call__(self, line: str) -> None:
        if self._bar is None:
            print(f"loom.compile: {line}", file=sys.stderr)
        elif _PHASE_DONE.match(line):
            self._bar.set_postfix_str(line)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
