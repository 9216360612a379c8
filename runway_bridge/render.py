"""``runway-bridge render``: a video file or an image folder through one model, as Runway's export did.

Reading and writing use PyAV (FFmpeg's libraries), not OpenCV: OpenCV's pip wheels write only
MPEG-4 Part 2 and cannot carry audio, while PyAV writes H.264 and copies the audio stream unchanged
(``benchmarks/bench_render_io.py`` measures both; docs/render.md has the figures).

Nothing is lost on Ctrl+C: frames go to ``<name>.partial<ext>``, renamed to the output only when
the render completes; an interrupted render closes that file properly, so what was rendered plays,
and says so. The model runs on its card's backend (or ``--backend``), one frame in flight, while the
next frame is decoded on a reader thread.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .errors import BadInput, BridgeError
from .overlay import draw_overlay, image_outputs
from .record import Recorder
from .types import Blob, DecodeContext

__all__ = ["render", "RenderSummary", "Progress"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
_END = object()


def _need_av():
    try:
        import av
    except ImportError:
        sys.exit(f"render needs PyAV: {sys.executable} -m pip install 'runway-bridge[video]'")
    return av


@dataclass
class RenderSummary:
    frames: int
    output: Path
    seconds: float
    audio: bool
    recorded: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


class Progress:
    """A progress bar with frames/s and ETA on a terminal; a plain line every 10% (or 10 s) otherwise."""

    def __init__(self, total: int | None, out=None):
        self.total, self.out = total or None, out or sys.stderr
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self.start = self._last = time.monotonic()
        self._last_step = self._last_done = -1

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        fps = done / (now - self.start) if now > self.start else 0.0
        if self.total:
            frac = min(1.0, done / self.total)
            eta = (self.total - done) / fps if fps else 0
            text = f"{frac:4.0%} {done}/{self.total} frames, {fps:.1f} frames/s, ETA {int(eta // 60)}:{int(eta % 60):02d}"
        else:
            frac, text = None, f"{done} frames, {fps:.1f} frames/s"
        if self.tty:
            if final or now - self._last >= 0.1:
                bar = "" if frac is None else "[" + "#" * int(frac * 30) + "-" * (30 - int(frac * 30)) + "] "
                self.out.write("\r" + bar + text + ("\n" if final else ""))
                self.out.flush()
                self._last = now
            return
        step = int(frac * 10) if frac is not None else int((now - self.start) // 10)
        if (final and done != self._last_done) or step > self._last_step:
            self._last_done = done
            self._last_step = step
            self.out.write(text + "\n")
            self.out.flush()


# -- input --------------------------------------------------------------------------------------

class _Input:
    """Frames of a video file (with its audio stream, when it has one) or of an image folder."""

    def __init__(self, path: Path):
        self.path = path
        self.container = self.audio = None
        if path.is_dir():
            self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise BadInput(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            self.total, self.rate = len(self.files), Fraction(30)
            return
        if not path.is_file():
            raise BadInput(f"{path} does not exist")
        av = _need_av()
        try:
            self.container = av.open(str(path))
        except av.FFmpegError as e:
            raise BadInput(f"cannot read {path} as a video: {e}") from None
        if not self.container.streams.video:
            raise BadInput(f"{path} has no video stream")
        self.video = self.container.streams.video[0]
        self.video.thread_type = "AUTO"
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        self.total = self.video.frames or None
        self.rate = self.video.average_rate or Fraction(30)

    def frames(self, on_audio: Callable) -> Iterator[tuple[int, float, np.ndarray]]:
        """(index, seconds, RGB frame) in order; audio packets go to `on_audio` as they are demuxed."""
        if self.container is None:
            for i, p in enumerate(self.files):
                bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise BadInput(f"cannot read {p} as an image")
                yield i, i / float(self.rate), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            return
        i = 0
        streams = [self.video] + ([self.audio] if self.audio is not None else [])
        for packet in self.container.demux(*streams):
            if packet.stream is self.audio:
                if packet.dts is not None:
                    on_audio(packet)
                continue
            for frame in packet.decode():
                t = float(frame.time) if frame.time is not None else i / float(self.rate)
                yield i, t, frame.to_ndarray(format="rgb24")
                i += 1

    def close(self) -> None:
        if self.container is not None:
            self.container.close()


# -- output -------------------------------------------------------------------------------------

class _Output:
    """An H.264 video (with the input's audio copied) or a folder of PNG frames."""

    def __init__(self, path: Path, source: _Input):
        self.path, self.source = path, source
        self.folder = path.suffix == ""
        self.partial = path if self.folder else path.with_name(f"{path.stem}.partial{path.suffix}")
        self.container = self.stream = self.audio = None
        self.frames = 0
        self._early_audio: list = []
        if self.folder:
            path.mkdir(parents=True, exist_ok=True)
            return
        av = _need_av()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.partial), "w")
        if source.audio is not None:
            self.audio = self.container.add_stream_from_template(source.audio)

    def _open_video(self, w: int, h: int) -> None:
        self.stream = self.container.add_stream("libx264", rate=self.source.rate)
        self.stream.width, self.stream.height = w, h
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "18", "preset": "veryfast"}
        for packet in self._early_audio:  # audio demuxed before the first picture was ready
            self._mux_audio(packet)
        self._early_audio.clear()

    def add_audio(self, packet) -> None:
        if self.audio is None:
            return
        if self.stream is None:
            self._early_audio.append(packet)
        else:
            self._mux_audio(packet)

    def _mux_audio(self, packet) -> None:
        packet.stream = self.audio
        self.container.mux(packet)

    def write(self, index: int, rgb: np.ndarray) -> None:
        if self.folder:
            cv2.imwrite(str(self.path / f"frame_{index:06d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        else:
            import av

            h, w = rgb.shape[:2]
            if self.stream is None:
                self._open_video(w + w % 2, h + h % 2)  # yuv420p needs even sides
            if (w + w % 2, h + h % 2) != (self.stream.width, self.stream.height):
                rgb = cv2.resize(rgb, (self.stream.width, self.stream.height), interpolation=cv2.INTER_AREA)
            elif w % 2 or h % 2:
                rgb = cv2.copyMakeBorder(rgb, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = self.frames
            frame.time_base = 1 / self.source.rate
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
        self.frames += 1

    def close(self, complete: bool) -> Path:
        """Flush and close; the output's final path when `complete`, else the playable partial file."""
        if self.container is not None:
            if self.stream is not None:
                for packet in self.stream.encode():
                    self.container.mux(packet)
            self.container.close()
            if complete:
                self.partial.replace(self.path)
                return self.path
            return self.partial
        return self.path


# -- the model ------------------------------------------------------------------------------------

def _picture(outputs: dict, schema: list[dict], frame: np.ndarray) -> np.ndarray:
    """The frame to write: the first picture output, else the input with the geometry drawn on it."""
    for name in image_outputs(schema):
        blob = outputs.get(name)
        if isinstance(blob, Blob) and blob.format == "raw":
            arr = np.frombuffer(blob.data, np.uint8).reshape(blob.shape)
            if arr.ndim == 2:
                return cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
            return arr[..., :3] if arr.shape[2] >= 3 else cv2.cvtColor(arr[..., 0], cv2.COLOR_GRAY2RGB)
    return draw_overlay(frame, outputs, schema)


def _reader(source: _Input, out: _Output, q: queue.Queue, stop: threading.Event) -> None:
    """Decode ahead on a thread (bounded: two frames), so the model never waits for the decoder."""
    try:
        for item in source.frames(lambda p: q.put(("audio", p))):
            while not stop.is_set():
                try:
                    q.put(("frame", item), timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        q.put(("end", None))
    except BaseException as e:  # noqa: BLE001 - handed to the main thread, which raises it
        q.put(("error", e))


async def _render(entry, source: _Input, out: _Output, *, command: str | None, options: dict, backend: str,
                  inputs: dict, recorder: Recorder | None, progress: Progress, max_frames: int | None) -> int:
    from .backends import create as create_backend

    model = create_backend(backend, entry.dir, entry.card, **({"ctx": DecodeContext()} if backend in ("local", "process") else {}))
    manifest = await model.manifest()
    commands = {c["name"]: c for c in manifest["commands"]}
    name = command or entry.default_command or next(iter(commands))
    if name not in commands:
        raise BadInput(f"{entry.id} has no command {name!r}; it has {', '.join(commands)}")
    schema = commands[name]
    image_in = next((f["name"] for f in schema["inputs"] if f["type"] == "image"), None)
    if image_in is None:
        raise BadInput(f"{entry.id}'s {name!r} takes no image, so it cannot render a video")
    formats = {n: "raw" for n in image_outputs(schema["outputs"])}
    await model.start(options)
    q: queue.Queue = queue.Queue(maxsize=2 + 64)  # frames, plus audio packets demuxed between them
    stop = threading.Event()
    thread = threading.Thread(target=_reader, args=(source, out, q, stop), daemon=True, name="render-reader")
    thread.start()
    loop = asyncio.get_running_loop()
    done = 0
    try:
        while max_frames is None or done < max_frames:
            kind, item = await loop.run_in_executor(None, q.get)
            if kind == "audio":
                out.add_audio(item)
                continue
            if kind == "error":
                raise item
            if kind == "end":
                break
            index, t, frame = item
            outputs = await model.call(name, {**inputs, image_in: frame}, binary=True, formats=formats)
            out.write(index, _picture(outputs, schema["outputs"], frame))
            if recorder is not None:
                recorder.write(index, t, outputs)
            done += 1
            progress.update(done)
    finally:
        stop.set()
        while thread.is_alive():  # unblock a reader waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
        await model.stop()
    return done


def render(input_path: str | Path, entry, output: str | Path, *, command: str | None = None,
           options: dict | None = None, inputs: dict | None = None, backend: str | None = None,
           record: str | Path | None = None, max_frames: int | None = None, out=None) -> RenderSummary:
    """Render `input_path` (a video file or an image folder) through the catalogue `entry`."""
    src_path, out_path = Path(input_path), Path(output)
    if src_path.resolve() == out_path.resolve():
        raise BadInput("the output must not be the input file")
    source = _Input(src_path)
    recorder = Recorder(record) if record else None
    total = min(source.total, max_frames) if source.total and max_frames else (source.total or max_frames)
    progress = Progress(total, out)
    sink = _Output(out_path, source)
    t0 = time.monotonic()
    complete = False
    try:
        frames = asyncio.run(_render(entry, source, sink, command=command,
                                     options={**entry.card.get("options", {}), **(options or {})},
                                     backend=backend or entry.backend, inputs=inputs or {}, recorder=recorder,
                                     progress=progress, max_frames=max_frames))
        complete = True
    finally:
        final = sink.close(complete)
        source.close()
        if recorder is not None:
            recorder.close()
        if not complete and sink.frames:
            (out or sys.stderr).write(f"\nStopped after {sink.frames} frames: they are in {final} "
                                      f"(it plays); {out_path} was not written.\n")
        elif not complete and final.is_file():
            final.unlink()  # nothing was rendered: leave no empty file behind
    if frames == 0:
        raise BridgeError(f"{src_path} gave no frames")
    progress.update(frames, final=True)
    return RenderSummary(frames, final, time.monotonic() - t0, sink.audio is not None,
                         recorder.count if recorder else 0)
