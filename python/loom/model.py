"""A compiled model (``.loom``) and its sessions: prefill, decode steps and generation."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from . import _runtime, media as _media, prompt as _prompt


@dataclass
class Generation:
    """What the last ``Session.generate`` did."""

    prompt_ids: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)  # sampled, the stop token included
    text: str = ""
    stop_reason: str = ""  # "eos", "stop" (a stop string), "max_tokens" or "max_context"


class Model:
    """A ``.loom`` artifact, mapped (or with ``huge_pages`` read into 2 MiB pages) and checked:
    its manifest, kernels and tokenizer against their checksums; ``verify=True`` also reads every
    weight. ``threads``: kernel threads for its sessions (0: the runtime's default).
    ``max_image_pixels`` and ``max_media_seconds`` lower what its prompts' images (pixels) and
    audio (seconds) may hold, checked before decoding (0: 89,478,485 and 3600)."""

    def __init__(self, path: str | os.PathLike, *, threads: int = 0, huge_pages: bool = False,
                 verify: bool = False, max_image_pixels: int = 0, max_media_seconds: int = 0):
        self._model = _runtime.Model(os.fspath(path), huge_pages, max_image_pixels,
                                     max_media_seconds)
        self.threads = threads
        self._info: dict[str, Any] | None = None
        if verify:
            self._model.verify()

    @property
    def path(self) -> str:
        return self._model.path

    @property
    def info(self) -> dict[str, Any]:
        """What ``loom-inspect --json`` prints for the artifact."""
        if self._info is None:
            self._info = json.loads(self._model.describe())
        return self._info

    @property
    def vocab_size(self) -> int:
        return self._model.vocab_size

    @property
    def hidden_size(self) -> int:
        return self._model.hidden_size

    @property
    def max_context(self) -> int:
        return self._model.max_context

    @property
    def special_tokens(self) -> dict[str, Any]:
        return self._model.special_tokens()

    @property
    def stop_tokens(self) -> list[int]:
        """The tokens that end generation: the config's eos ids, ``<turn|>``, ``<|tool_response>``."""
        return self._model.stop_tokens()

    def verify(self) -> None:
        """Checks every segment, the weights included, against its checksum."""
        self._model.verify()

    def tokenize(self, text: str, add_bos: bool = False) -> np.ndarray:
        return self._model.tokenize(text, add_bos)

    def detokenize(self, ids: Sequence[int] | np.ndarray) -> str:
        return self._model.detokenize(np.ascontiguousarray(ids, dtype=np.int32))

    def token_id(self, piece: str) -> int:
        return self._model.token_id(piece)

    def batch(self) -> Batch:
        """Steps several of this model's sessions together (continuous batching)."""
        return Batch(self)

    def session(self, *, max_context: int = 0, seed: int = 0,
                threads: int | None = None) -> Session:
        """A conversation with its own KV cache. ``max_context``: 0 for the artifact's."""
        return Session(self, max_context=max_context, seed=seed,
                       threads=self.threads if threads is None else threads)


class Session:
    """One sequence: a KV cache, a position and a seeded sampler. Calls release the GIL, so
    sessions in different threads run at once; one session takes one call at a time."""

    def __init__(self, model: Model, *, max_context: int = 0, seed: int = 0, threads: int = 0):
        self.model = model
        self._session = _runtime.Session(model._model, max_context, threads, seed)
        self.max_context = max_context if max_context > 0 else model.max_context
        self.last_generation: Generation | None = None
        self._pending = -1  # the last answer's final sampled token, not yet in the cache

    @property
    def position(self) -> int:
        return self._session.position

    def reset(self) -> None:
        """Forgets the conversation: position 0, KV cache cleared."""
        self._session.reset()
        self._pending = -1

    def prefill(self, ids: Sequence[int] | np.ndarray, images: Sequence[_media.ImageLike] = (),
                audio: Sequence[_media.AudioLike] = (), videos: Sequence[Any] = (), *,
                all_logits: bool = False) -> np.ndarray:
        """Runs prompt ids (media runs already expanded, as ``loom-run --prompt-ids``) at the
        current position; each image fills the next image run, each audio the next audio run,
        each video frame the next video run. Returns the last position's logits, shape
        (vocab,), or every position's, (len(ids), vocab): the runtime writes into the array."""
        items = ([_media.image(x, name=f"images[{i}]") for i, x in enumerate(images)] +
                 [_media.audio(x, name=f"audio[{i}]") for i, x in enumerate(audio)] +
                 [_media.video(x, name=f"videos[{i}]") for i, x in enumerate(videos)])
        return self._prefill(ids, items, all_logits)

    def step(self, token: int) -> np.ndarray:
        """Runs one token; returns its logits, shape (vocab,)."""
        return self._session.decode(int(token))

    def _prefill(self, ids, items: list[_runtime.Media], all_logits: bool) -> np.ndarray:
        self._pending = -1
        return self._session.prefill(np.ascontiguousarray(ids, dtype=np.int32), items,
                                     all_logits)

    def generate(self, prompt: str | Sequence[dict[str, Any]], max_tokens: int = 64, *,
                 temperature: float | None = None, top_k: int | None = None,
                 top_p: float | None = None, greedy: bool = False, seed: int | None = None,
                 stop: str | Sequence[str] | None = None, stream: bool = True,
                 images: Sequence[_media.ImageLike] = (), audio: Sequence[_media.AudioLike] = (),
                 videos: Sequence[Any] = (), system: str | None = None,
                 thinking: bool = False) -> Iterator[str] | str:
        """Generates an answer: text pieces as they complete (``stream=True``) or the whole text.

        ``prompt`` is a user turn (a string, as ``loom-run --prompt``: it continues the
        conversation this session holds, and ``images``, ``audio``, ``videos`` go where its
        markers are, or first) or a whole conversation (a list of messages: the session starts
        over). Sampling defaults to the model's (temperature 1.0, top-k 64, top-p 0.95);
        ``greedy`` takes the argmax. ``seed`` restarts the sampler as ``loom-run --seed`` does.
        Generation stops at the model's stop tokens, after ``max_tokens``, at a ``stop`` string
        (not included in the text) or when the context is full."""
        ids, items = self._prompt(prompt, images, audio, videos, system, thinking)
        if seed is not None:
            self._session.set_seed(seed)
        sampling = (1.0 if temperature is None else float(temperature),
                    64 if top_k is None else int(top_k), 0.95 if top_p is None else float(top_p),
                    bool(greedy))
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        pieces = self._generate(ids, items, max_tokens, sampling, stops)
        return pieces if stream else "".join(pieces)

    def _prompt(self, prompt, images, audio, videos, system, thinking):
        if isinstance(prompt, str):
            given = ([_media.image(x, name=f"images[{i}]") for i, x in enumerate(images)] +
                     [_media.audio(x, name=f"audio[{i}]") for i, x in enumerate(audio)] +
                     [_media.video(x, name=f"videos[{i}]") for i, x in enumerate(videos)])
            turn, items = _prompt.expand_markers(self.model._model,
                                                 _prompt.user_turn(prompt, given), given,
                                                 "the prompt")
            ids: list[int] = []
            if self.position == 0:
                text = _runtime.begin_conversation(system is not None, system or "", thinking)
            else:
                # Close the model's last answer as the template writes it: its final token when
                # that was not a stop token (an answer cut short), then <turn|> and a newline.
                if self._pending >= 0 and self._pending not in self.model.stop_tokens:
                    ids.append(self._pending)
                text = _runtime.END_OF_MODEL_TURN
            text += turn + _runtime.generation_prompt(thinking)
            ids += self.model.tokenize(text).tolist()
            return ids, items
        if images or audio or videos or system is not None:
            raise ValueError("with a message list, media and the system prompt go in the messages")

        def convert(kind, value, name):
            return {"image": _media.image, "audio": _media.audio,
                    "video": _media.video}[kind](value, name=name)

        rendered, given = _prompt.conversation(prompt, thinking, convert)
        text, items = _prompt.expand_markers(self.model._model, rendered, given, "the messages")
        self.reset()
        return self.model.tokenize(text).tolist(), items

    def _generate(self, ids, items, max_tokens, sampling, stops) -> Iterator[str]:
        if self.position + len(ids) > self.max_context:
            raise ValueError(f"the prompt is {len(ids)} tokens at position {self.position} but "
                             f"the context holds {self.max_context}")
        generation = Generation(prompt_ids=list(ids), stop_reason="max_tokens")
        self.last_generation = generation
        stop_tokens = set(self.model.stop_tokens)
        detokenizer = _runtime.Detokenizer(self.model._model)
        held = ""  # text that may be the start of a stop string

        def release(piece: str, final: bool) -> str | None:
            """Adds a piece; returns what can be shown, or None once a stop string matched."""
            nonlocal held
            held += piece
            for s in stops:
                at = held.find(s)
                if at >= 0:
                    held = held[:at]
                    return None
            keep = 0 if final else max((len(s) - 1 for s in stops), default=0)
            keep = min(keep, len(held))
            out, held = held[:len(held) - keep], held[len(held) - keep:]
            return out

        logits = self._prefill(ids, items, False)
        for step in range(max_tokens):
            token = self._session.sample(logits, *sampling)
            generation.tokens.append(token)
            self._pending = token
            if token in stop_tokens:
                generation.stop_reason = "eos"
                break
            shown = release(detokenizer.push(token), False)
            if shown is None:
                generation.stop_reason = "stop"
                break
            generation.text += shown
            if shown:
                yield shown
            if step + 1 == max_tokens:
                break
            if self.position >= self.max_context:
                generation.stop_reason = "max_context"
                break
            logits = self._session.decode(token)
            self._pending = -1
        if generation.stop_reason != "stop":
            shown = release(detokenizer.finish(), True)
            if shown is None:
                generation.stop_reason = "stop"
                shown = held
            generation.text += shown
            if shown:
                yield shown
        elif held:
            generation.text += held
            yield held


class Batch:
    """Decode steps of several sessions of one model, run as one: each projection, the MLP and
    the LM head read their weights once for all the sessions' tokens, where separate steps read
    them once per session. Sessions may change from step to step. The logits agree with
    ``Session.step``'s to rounding (one row and several rows may sum in another order)."""

    def __init__(self, model: Model):
        self.model = model
        self._batch = _runtime.Batch(model._model)

    def step(self, sessions: Sequence[Session], tokens: Sequence[int] | np.ndarray) -> np.ndarray:
        """Runs tokens[i] in sessions[i] (distinct sessions); returns (len(sessions), vocab)
        logits, row i for sessions[i]."""
        for session in sessions:
            session._pending = -1
        return self._batch.step([s._session for s in sessions],
                                np.ascontiguousarray(tokens, dtype=np.int32))
