"""The studio's renderer: the per-session state (label map, current codes, seeds, locks, the
reference look) and every edit, as calls on one `smis.Synthesizer`. No HTTP here: `app.py` is the
web layer and only calls `Studio`'s methods, which take bytes and plain values and return dicts.

Every model call runs under one lock (one device, one request at a time); sessions live in a table
of bounded size (Limits.max_sessions). A session in use is never closed to make room for another:
when the table is full, a new session takes the place of one that nobody has used since it opened
or that has been idle for SESSION_IDLE_S (10 minutes), least recently used first, and is refused
(429) when there is none. Uploads are checked for size in bytes and pixels before they are
decoded. Nothing a client sends is ever used as a file path.
"""

from __future__ import annotations

import base64
import math
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..codes import Codes
from ..networks import check_image_size
from ..synthesizer import Synthesizer
from .examples import ExampleScenes
from .uploads import Limits, StudioError, data_url, open_upload, png_bytes, too_big

MAX_SEED = 2**31 - 1
SESSION_IDLE_S = 600.0      # a session unused this long may be closed to make room for a new one


@dataclass
class Session:
    id: str
    codes: Codes                                    # the current looks; codes.label is the label map
    seeds: list[int]                                # per class: the seed of its last whole-class look
    locked: set[int] = field(default_factory=set)
    morph: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # (before, after)
    morph_t: dict[int, float] = field(default_factory=dict)
    reference: Codes | None = None
    reference_name: str = ""
    reference_present: set[int] = field(default_factory=set)
    reference_picture: str = ""                     # a data URL of the reference photo, for the page
    image_png: bytes = b""
    last_used: float = 0.0                          # Studio.clock() of its creation or last request
    used: bool = False                              # a request named it after it was created


class Studio:
    """One model, many sessions. synth: the Synthesizer; size: (H, W) of the label maps (default:
    the model's native size); limits: see Limits; example_seed: which synthetic scenes the examples
    are; idle_s: how long a session must go unused before a new session may take its place (one
    never used after it opened may go at once: it holds no work)."""

    def __init__(self, synth: Synthesizer, size: tuple[int, int] | None = None, limits: Limits | None = None,
                 example_seed: int = 0, description: str = "", idle_s: float = SESSION_IDLE_S):
        self.synth, self.limits, self.description = synth, limits or Limits(), description
        self.idle_s = float(idle_s)
        self.clock = time.monotonic                 # seconds; tests may replace it
        size = size or synth.default_size()
        if size is None:
            raise ValueError("the model has no dataset spec with a native size: pass size=(H, W)")
        self.size = (int(size[0]), int(size[1]))
        check_image_size(*self.size, encoding=True)      # multiples of 64, a grid the encoder can take
        self.spec = synth.spec
        self.num_classes = self.spec.num_classes
        self.lock = threading.RLock()              # one model call at a time, and the session table
        # the web layer runs every call on this one thread: one OpenMP team for the model, whose
        # idle threads would otherwise spin against the next call's team from another thread
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="smis-studio")
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        self.examples = ExampleScenes(self.spec.names, self.size, self.limits.examples, example_seed)

    def submit(self, fn, *args, **kwargs) -> Future:
        """Run fn (a method of this Studio) on the studio's model thread."""
        return self.worker.submit(fn, *args, **kwargs)

    def close(self) -> None:
        self.worker.shutdown(wait=False, cancel_futures=True)

    # --- model facts ------------------------------------------------------------------------
    def info(self) -> dict:
        H, W = self.size
        colours = ["#{:02x}{:02x}{:02x}".format(*rgb) for rgb in self.spec.palette]
        return {"name": self.spec.name, "description": self.description, "size": [H, W],
                "classes": [{"id": c, "name": n, "colour": colours[c]}
                            for c, n in enumerate(self.spec.names)],
                "latent_grid": [H // 64, W // 64], "label_dtype": self.label_dtype,
                "examples": [{"index": i, "name": f"scene {i + 1}"} for i in range(self.limits.examples)],
                "limits": {"max_bytes": self.limits.max_bytes, "max_pixels": self.limits.max_pixels},
                "device": str(self.synth.device)}

    @property
    def label_dtype(self) -> str:
        return "uint8" if self.num_classes <= 256 else "uint16"

    def example(self, index: int) -> tuple[torch.Tensor, Image.Image]:
        """Built-in example `index`: a synthetic scene's label map (1,1,H,W) in this model's class
        ids, and its photo."""
        if not isinstance(index, int) or not 0 <= index < self.limits.examples:
            raise StudioError(f"no example {index!r}: there are {self.limits.examples} (0 to "
                              f"{self.limits.examples - 1})", 404, "example")
        with self.lock:
            return self.examples[index]

    def example_png(self, index: int, kind: str) -> bytes:
        label, photo = self.example(index)
        if kind == "photo":
            return png_bytes(photo)
        return png_bytes(self.synth.colorize(label))

    # --- sessions ---------------------------------------------------------------------------
    def new_session(self, example: int | None = 0, seed: int = 0) -> dict:
        """A new session. When the table is full, it takes the place of the least recently used
        session that was never used after it opened or has been idle for idle_s; with none, a 429
        (a session in use is never closed for a new one)."""
        seed = self._seed(seed, "seed")
        label = self.example(example)[0] if example is not None else \
            torch.zeros(1, 1, *self.size, dtype=torch.int64)
        with self.lock:
            self._make_room()                                        # before any model work
            result = self.synth.sample(label, [seed], size=self.size)
            sid = secrets.token_urlsafe(16)
            s = Session(sid, result.codes[0], [seed] * self.num_classes, last_used=self.clock())
            self.sessions[sid] = s
            return self._answer(s, result.images[0], with_label=True)

    def _make_room(self) -> None:
        """Room for one more session: close one that holds no work or has been idle for idle_s,
        or refuse (429)."""
        with self.lock:
            if len(self.sessions) < self.limits.max_sessions:
                return
            now = self.clock()
            for sid, s in self.sessions.items():                     # least recently used first
                if not s.used or now - s.last_used >= self.idle_s:
                    del self.sessions[sid]
                    return
            oldest = next(iter(self.sessions.values()))
            wait = max(1, round((self.idle_s - (now - oldest.last_used)) / 60))
            n, idle = self.limits.max_sessions, f"{self.idle_s / 60:g}"
            raise StudioError(f"the studio is full: {n} sessions are open and in use (the limit is "
                              f"--max-sessions {n}), and one is closed for a new page only after {idle} "
                              f"minutes unused; close a studio page you no longer need, or try again in "
                              f"about {wait} minute{'s' if wait != 1 else ''}", 429, "session")

    def session(self, sid: str) -> Session:
        with self.lock:
            s = self.sessions.get(sid) if isinstance(sid, str) else None
            if s is None:
                raise StudioError("this session has expired (unused while other pages needed its place, or "
                                  "the server restarted): reload the page", 404, "session")
            self.sessions.move_to_end(sid)
            s.used, s.last_used = True, self.clock()
            return s

    def state(self, sid: str) -> dict:
        with self.lock:
            s = self.session(sid)
            return self._answer(s, None, with_label=True, with_reference=True)

    # --- the label map ----------------------------------------------------------------------
    def set_label_ids(self, sid: str, data: bytes) -> dict:
        """The page's canvas: H*W class ids, row-major, uint8 (uint16 little-endian beyond 256 classes)."""
        H, W = self.size
        dtype = np.uint8 if self.label_dtype == "uint8" else np.dtype("<u2")
        expected = H * W * np.dtype(dtype).itemsize
        if len(data) != expected:
            raise StudioError(f"expected {H}x{W} class ids as {expected} bytes of {self.label_dtype}; got "
                              f"{len(data)} bytes", 422, "label")
        ids = torch.from_numpy(np.frombuffer(data, dtype=dtype).astype(np.int64).reshape(1, 1, H, W))
        if int(ids.max()) >= self.num_classes:
            raise StudioError(f"class ids must lie in 0..{self.num_classes - 1}; found {int(ids.max())}",
                              422, "label")
        return self._set_label(sid, ids, with_label=False)

    def set_label_file(self, sid: str, data: bytes, name: str = "label map") -> dict:
        """An uploaded label map file: grey class ids (through the dataset's label rule), a
        palette-mode PNG, or colours of the model's palette; exactly the studio's size."""
        picture = open_upload(data, self.limits, "label")
        H, W = self.size
        if picture.size != (W, H):
            raise StudioError(f"the label map is {picture.height}x{picture.width}; this studio paints "
                              f"{H}x{W} label maps (resize it with nearest-neighbour first)", 422, "label")
        try:
            ids = self.synth.label(picture, size=self.size)
        except ValueError as e:
            raise StudioError(str(e).replace("label map: ", f"{name}: ", 1), 422, "label") from None
        return self._set_label(sid, ids, with_label=True)

    def load_example(self, sid: str, index: int) -> dict:
        return self._set_label(sid, self.example(index)[0], with_label=True)

    def _set_label(self, sid: str, ids: torch.Tensor, with_label: bool) -> dict:
        with self.lock:
            s = self.session(sid)
            result = self.synth.manipulate(ids, s.codes)             # the same looks on the new layout
            s.codes = result.codes[0]
            return self._answer(s, result.images[0], with_label=with_label)

    def label_png(self, sid: str, kind: str = "ids") -> bytes:
        """The label map as a grey PNG of label-file values (reads back as the same class ids) or
        in the palette's colours."""
        with self.lock:
            label = self.session(sid).codes.label
        if kind == "colour":
            return png_bytes(self.synth.colorize(label), 6)
        if kind != "ids":
            raise StudioError(f"kind={kind!r}: expected 'ids' or 'colour'", 422, "download")
        values = self.file_values(label[0, 0]).numpy()
        mode = "L" if values.max(initial=0) < 256 else "I;16"
        picture = Image.fromarray(values.astype(np.uint8 if mode == "L" else np.uint16), mode=mode)
        return png_bytes(picture, 6)

    def file_values(self, ids: torch.Tensor) -> torch.Tensor:
        """Class ids -> the label-file values that read back as them (the inverse of the spec's rule)."""
        rule = self.spec.label_rule
        values = ids - rule.shift
        if rule.unknown_index is not None:
            unknown = rule.unknown_value if rule.unknown_value is not None else -rule.shift - 1
            values = torch.where(ids == rule.unknown_index, unknown, values)
        return values

    # --- looks ------------------------------------------------------------------------------
    def new_look(self, sid: str, c: int, seed: int | None = None) -> dict:
        """Class c only, re-drawn from `seed` (a fresh random seed when None)."""
        c = self._class(c, "look")
        seed = self._seed(seed, f"seed-{c}")
        with self.lock:
            s = self.session(sid)
            self._unlocked(s, c, f"look-{c}")
            result = self.synth.resample([c], [seed], codes=s.codes)
            self._changed(s, result.codes[0], [c])
            s.seeds[c] = seed
            return self._answer(s, result.images[0])

    def shuffle(self, sid: str, seed: int | None = None) -> dict:
        """Every unlocked class re-drawn from one seed; the locked ones keep their looks."""
        seed = self._seed(seed, "shuffle")
        with self.lock:
            s = self.session(sid)
            ids = [c for c in range(self.num_classes) if c not in s.locked]
            if not ids:
                raise StudioError("every class is locked: unlock one to give it a new look", 409, "shuffle")
            result = self.synth.resample(ids, [seed], codes=s.codes)
            self._changed(s, result.codes[0], ids)
            for c in ids:
                s.seeds[c] = seed
            return self._answer(s, result.images[0])

    def set_lock(self, sid: str, c: int, locked: bool) -> dict:
        c = self._class(c, "lock")
        with self.lock:
            s = self.session(sid)
            (s.locked.add if locked else s.locked.discard)(c)
            return self._answer(s, None)

    def morph(self, sid: str, c: int, t: float) -> dict:
        """Class c's look at t along the straight path from its look before its last change (t=0)
        to the look that change gave it (t=1); the other classes stay as they are."""
        c = self._class(c, f"morph-{c}")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0 <= t <= 1:
            raise StudioError(f"t must be a number in [0, 1]; got {t!r}", 422, f"morph-{c}")
        with self.lock:
            s = self.session(sid)
            self._unlocked(s, c, f"morph-{c}")
            if c not in s.morph:
                raise StudioError(f"{self.spec.names[c]} has had one look so far: give it a new look first, "
                                  "then slide between the two", 409, f"morph-{c}")
            before, after = s.morph[c]
            z = s.codes.z.clone()
            z[:, self.synth.layout.class_slice(c)] = torch.lerp(before, after, float(t))
            sources = list(s.codes.sources)
            sources[c] = f"{t:.2f} of the way from the previous look"
            s.codes = Codes(z, s.codes.label, tuple(sources), s.codes.class_names, s.codes.instance)
            s.morph_t[c] = float(t)
            image = self.synth.decode([s.codes])[0]
            return self._answer(s, image)

    # --- reference looks --------------------------------------------------------------------
    def set_reference(self, sid: str, photo: bytes, label: bytes, name: str = "your photo") -> dict:
        """A reference photo and its label map (any size; the label map is resized like the photo,
        nearest): encoded once, its classes' looks then copy over with take_look."""
        picture = open_upload(photo, self.limits, "reference-photo")
        label_picture = open_upload(label, self.limits, "reference-label")
        if abs(picture.width / picture.height / (label_picture.width / label_picture.height) - 1) > 0.02:
            raise StudioError(f"the photo is {picture.height}x{picture.width} but its label map is "
                              f"{label_picture.height}x{label_picture.width}: they must show the same scene",
                              422, "reference-label")
        try:
            ids = self.synth.label(label_picture, size=self.size)
        except ValueError as e:
            raise StudioError(str(e), 422, "reference-label") from None
        return self._encode_reference(sid, picture, ids, name[:80] or "your photo")

    def reference_example(self, sid: str, index: int) -> dict:
        label, photo = self.example(index)
        return self._encode_reference(sid, photo, label, f"example scene {index + 1}")

    def _encode_reference(self, sid: str, photo: Image.Image, ids: torch.Tensor, name: str) -> dict:
        with self.lock:
            s = self.session(sid)
            try:
                reference = self.synth.encode(photo, ids, size=self.size, name=name)
            except ValueError as e:
                raise StudioError(str(e), 422, "reference-photo") from None
            s.reference, s.reference_name = reference, name
            s.reference_present = set(ids.unique().tolist())
            thumb = photo.convert("RGB")
            thumb.thumbnail((256, 256))
            s.reference_picture = data_url(png_bytes(thumb))
            return self._answer(s, None, with_reference=True)

    def take_look(self, sid: str, c: int) -> dict:
        """Class c's look copied from the reference (appearance transfer)."""
        c = self._class(c, f"take-{c}")
        with self.lock:
            s = self.session(sid)
            self._unlocked(s, c, f"take-{c}")
            if s.reference is None:
                raise StudioError("no reference yet: upload a photo and its label map, or pick an example",
                                  409, f"take-{c}")
            if c not in s.reference_present:
                raise StudioError(f"the reference ({s.reference_name}) shows no {self.spec.names[c]}", 409,
                                  f"take-{c}")
            result = self.synth.transfer(s.codes, s.reference, [c])
            self._changed(s, result.codes[0], [c])
            return self._answer(s, result.images[0])

    # --- files ------------------------------------------------------------------------------
    def codes_file(self, sid: str) -> bytes:
        """The current codes as a codes file (Codes.save; `smis-generate --codes` reads it)."""
        with self.lock:
            codes = self.session(sid).codes
        with tempfile.TemporaryDirectory(prefix="smis-studio-") as tmp:
            return codes.save(Path(tmp) / "studio.codes").read_bytes()

    def load_codes(self, sid: str, data: bytes) -> dict:
        """A codes file: its label map and looks replace the session's (locked classes keep theirs)."""
        if len(data) > self.limits.max_bytes:
            raise too_big(len(data), self.limits, "codes")
        with tempfile.TemporaryDirectory(prefix="smis-studio-") as tmp:      # a path of ours, never theirs
            path = Path(tmp) / "upload.codes"
            path.write_bytes(data)
            try:
                codes = Codes.load(path)
                self.synth.check_codes(codes, "the codes file's codes")
                if len(codes.sources) != self.num_classes:
                    raise ValueError(f"{len(codes.sources)} sources for {self.num_classes} classes")
            except Exception as e:                     # whatever the bytes were: a 4xx, not a crash
                message = str(e).replace(f"{path}: the codes file", "the codes file") \
                    .replace(str(path), "the codes file").split("\n")[0]
                if "cannot be read as a codes file" in message or not message:
                    message = "not an smis codes file (Download codes or Codes.save writes them)"
                raise StudioError(message[:300], 422, "codes") from None
        H, W = self.size
        label = codes.label
        if not torch.is_tensor(label) or label.dim() != 4 or tuple(label.shape[2:]) != (H, W) or \
                tuple(codes.z.shape[2:]) != (H // 64, W // 64) or codes.z.shape[0] != 1:
            shape = tuple(label.shape) if torch.is_tensor(label) else None
            raise StudioError(f"the codes file was made for a label map of {shape}; this studio paints "
                              f"{H}x{W}", 422, "codes")
        if label.is_floating_point() or label.min() < 0 or label.max() >= self.num_classes:
            raise StudioError("the codes file's label map holds ids outside the model's classes", 422,
                              "codes")
        # instance edges (Cityscapes) come from the label map, as for everything painted here
        codes = Codes(codes.z.float(), label.long(), tuple(str(v) for v in codes.sources), self.spec.names)
        with self.lock:
            s = self.session(sid)
            if s.locked:                                             # locked looks stay
                z = self.synth.layout.replace(codes.z, sorted(s.locked), s.codes.z)
                sources = [s.codes.sources[c] if c in s.locked else v for c, v in enumerate(codes.sources)]
                codes = Codes(z, codes.label, tuple(sources), codes.class_names)
            result = self.synth.manipulate(codes.label, codes)
            self._changed(s, result.codes[0], [c for c in range(self.num_classes) if c not in s.locked])
            return self._answer(s, result.images[0], with_label=True)

    def image_png(self, sid: str) -> bytes:
        with self.lock:
            return self.session(sid).image_png

    # --- helpers ----------------------------------------------------------------------------
    def _class(self, c, field_name: str) -> int:
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < self.num_classes:
            raise StudioError(f"no class {c!r}: ids are 0..{self.num_classes - 1}", 404, field_name)
        return c

    def _seed(self, seed, field_name: str) -> int:
        if seed is None:
            return secrets.randbelow(1_000_000)          # short enough to read and type back
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise StudioError(f"a seed is a whole number in 0..{MAX_SEED}; got {seed!r}", 422, field_name)
        return seed

    def _unlocked(self, s: Session, c: int, field_name: str) -> None:
        if c in s.locked:
            raise StudioError(f"{self.spec.names[c]} is locked: unlock it to change its look", 409,
                              field_name)

    def _changed(self, s: Session, new: Codes, classes) -> None:
        """Record a look change of `classes` (for the morph slider), then make `new` current."""
        for c in classes:
            sl = self.synth.layout.class_slice(c)
            before, after = s.codes.z[:, sl], new.z[:, sl]
            if not torch.equal(before, after):
                s.morph[c] = (before.clone(), after.clone())
                s.morph_t[c] = 1.0
        s.codes = new

    def _answer(self, s: Session, image: Image.Image | None, with_label: bool = False,
                with_reference: bool = False) -> dict:
        """What every call returns: the session's state, the image as a data URL when it changed
        (or with_label), the label map's ids when the server changed them (or the page needs them),
        the reference's picture when it changed."""
        if image is not None:
            s.image_png = png_bytes(image)
        label = s.codes.label[0, 0]
        present = set(label.unique().tolist())
        state = {
            "session": s.id,
            "classes": [{"id": c, "present": c in present, "seed": s.seeds[c], "locked": c in s.locked,
                         "source": s.codes.sources[c], "morph": c in s.morph, "t": s.morph_t.get(c, 1.0),
                         "in_reference": c in s.reference_present}
                        for c in range(self.num_classes)],
            "reference": None if s.reference is None else {"name": s.reference_name},
        }
        if with_reference and s.reference is not None:
            state["reference"]["picture"] = s.reference_picture
        out = {"state": state}
        if image is not None or with_label:
            out["image"] = data_url(s.image_png)
        if with_label:
            dtype = np.uint8 if self.label_dtype == "uint8" else np.dtype("<u2")
            out["label"] = base64.b64encode(label.numpy().astype(dtype).tobytes()).decode()
        return out
