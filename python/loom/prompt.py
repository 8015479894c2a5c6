"""Prompts in Gemma 4's chat format, with media markers expanded into soft-token runs.

A prompt string is one user turn, as ``loom-run --prompt`` writes it: media without a marker in
the text go first, ``<|image|>``, ``<|audio|>`` and ``<|video|>`` markers take the rest of each
kind in order. A message list is a whole conversation, rendered as ``apply_chat_template``
renders it. Either way each marker becomes the runs the Hugging Face processor writes, and the
media are returned in the order their runs appear, which is the order the runtime fills them.
"""

from __future__ import annotations

from typing import Any, Sequence

from . import _runtime

_MARKERS = {
    _runtime.IMAGE: _runtime.IMAGE_MARKER,
    _runtime.AUDIO: _runtime.AUDIO_MARKER,
    _runtime.VIDEO: _runtime.VIDEO_MARKER,
}
_PART_KIND = {_runtime.IMAGE: "image", _runtime.AUDIO: "audio", _runtime.VIDEO: "video"}


def expand_markers(model: _runtime.Model, text: str, media: Sequence[_runtime.Media],
                   what: str) -> tuple[str, list[_runtime.Media]]:
    """Replaces the i-th marker of each kind with the i-th medium of that kind's expansion;
    returns the text and the media in the order their runs appear. ``what`` names the text."""
    by_kind: dict[int, list[_runtime.Media]] = {kind: [] for kind in _MARKERS}
    for m in media:
        by_kind[m.kind].append(m)
    for kind, marker in _MARKERS.items():
        markers, given = text.count(marker), len(by_kind[kind])
        if markers != given:
            raise ValueError(f"{what} has {markers} {marker} marker(s) but {given} "
                             f"{_PART_KIND[kind]}(s) were given")
    out, ordered, cursor, taken = [], [], 0, {kind: 0 for kind in _MARKERS}
    while True:
        found = [(text.find(marker, cursor), kind) for kind, marker in _MARKERS.items()]
        found = [(at, kind) for at, kind in found if at >= 0]
        if not found:
            break
        at, kind = min(found)
        medium = by_kind[kind][taken[kind]]
        taken[kind] += 1
        out.append(text[cursor:at])
        out.append(model.media_prompt(medium))
        ordered.append(medium)
        cursor = at + len(_MARKERS[kind])
    out.append(text[cursor:])
    return "".join(out), ordered


def user_turn(text: str, media: Sequence[_runtime.Media]) -> str:
    """One user turn with its markers (not yet expanded): media the text has no marker for come
    first, in the order given, then the text."""
    unmarked = {}
    for kind, marker in _MARKERS.items():
        given, markers = sum(m.kind == kind for m in media), text.count(marker)
        if markers > given:
            raise ValueError(f"the prompt has {markers} {marker} marker(s) but {given} "
                             f"{_PART_KIND[kind]}(s) were given")
        unmarked[kind] = given - markers
    parts: list[tuple[str, str]] = []
    for m in media:
        if unmarked[m.kind] > 0:
            unmarked[m.kind] -= 1
            parts.append((_PART_KIND[m.kind], ""))
    parts.append(("text", text))
    return _runtime.turn("user", parts)


def conversation(messages: Sequence[dict[str, Any]], thinking: bool,
                 convert_media) -> tuple[str, list[_runtime.Media]]:
    """Renders a message list (``{"role", "content"}`` with a string content or parts
    ``{"type": "text", "text"}``, ``{"type": "image", "image"}``, ``{"type": "audio", "audio"}``,
    ``{"type": "video", "video"}``) with the generation prompt; returns the text with markers
    and the media in part order, converted by ``convert_media(kind, value, name)``."""
    rendered: list[tuple[str, list[tuple[str, str]]]] = []
    media: list[_runtime.Media] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(f"messages[{i}]: expected a dict with 'role' and 'content'")
        content = message["content"]
        if isinstance(content, str):
            rendered.append((message["role"], [("text", content)]))
            continue
        parts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            where = f"messages[{i}].content[{j}]"
            if kind == "text":
                parts.append(("text", part.get("text", "")))
            elif kind in ("image", "audio", "video"):
                if kind not in part:
                    raise ValueError(f"{where}: a '{kind}' part needs a '{kind}' value")
                parts.append((kind, ""))
                media.append(convert_media(kind, part[kind], where))
            else:
                raise ValueError(f"{where}: unsupported part type {kind!r}; expected text, image, "
                                 "audio or video")
        rendered.append((message["role"], parts))
    return _runtime.render_chat(rendered, thinking, True), media
