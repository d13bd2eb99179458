"""TensorBoard writers: what ``tensorboardX.SummaryWriter``, ``torch.utils.tensorboard.SummaryWriter``,
``tf.compat.v1.summary.FileWriter`` and TF2's ``tf.summary`` write is reported to the current task.

Every Python writer funnels its ``Event`` protobufs through one ``EventFileWriter.add_event``
(tensorboardX's own, tensorboard's for torch, TensorFlow's for TF1), so that one method is wrapped:
the original writes the event first (the event file is unchanged), then the event is read, never
modified. TF2's ``tf.summary.*`` functions write through C++ ops instead; they all go through
``tf.summary.write`` (and hparams through ``tf.summary.experimental.write_raw_pb``), which are
wrapped for eager calls.

Naming follows ClearML: a scalar tag ``a/b/loss`` becomes title ``a_b``, series ``loss`` (a tag
without '/' is both); ``add_scalars(main, {k: v})`` becomes title ``main``, series ``k``; images,
text and audio split their tag into title + up to 3 series parts (default titles ``Images``,
``Text``, ``Audio``); histograms into title + 1 (default ``Histograms``). When another writer
(another logdir) already owns a title/series, the differing logdir parts are added. A step that
wraps around (restarts each epoch) is continued past the previous last step. Scalars are
``report_scalar`` points; images (the encoded PNG as written), text (``.txt``) and audio are debug
samples; a histogram is one bar chart (``report_histogram``) per step. Hparams from
``add_hparams`` / the hparams plugin become parameters ``TB_hparams/<name>`` unless
``auto_connect_frameworks={'tensorboard': {'report_hparams': False}}``.
"""
from __future__ import annotations

import io
import math
import mimetypes
import os
import tempfile
import threading
import warnings
from typing import Any, Optional

from ...errors import ValidationError
from .hooks import patch, when_imported
from .options import FrameworkOption

# the modules whose EventFileWriter.add_event every Python writer's events pass through
EVENT_WRITER_MODULES: tuple[str, ...] = (
    "tensorboardX.event_file_writer",                     # tensorboardX.SummaryWriter / FileWriter
    "tensorboard.summary.writer.event_file_writer",       # torch.utils.tensorboard.SummaryWriter
    "tensorflow.python.summary.writer.event_file_writer",  # tf.compat.v1.summary.FileWriter (graph mode)
    "tensorflow.python.summary.writer.event_file_writer_v2",  # ... and its eager EventFileWriterV2
)
SETTINGS: tuple[str, ...] = ("report_hparams",)
HPARAMS_SECTION = "TB_hparams"
_HPARAMS_START_TAG = "_hparams_/session_start_info"
HISTOGRAM_BINS = 50
_DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 9: "int64", 19: "float16"}


def connect(task: Any, option: FrameworkOption) -> None:
    """Bind every TensorBoard writer once its module is imported."""
    for key in option.settings:
        if key not in SETTINGS:
            raise ValidationError.choice("auto_connect_frameworks['tensorboard'] setting", key, SETTINGS)
    report_hparams = option.setting("report_hparams", True)
    if not isinstance(report_hparams, bool):
        raise ValidationError(f"auto_connect_frameworks['tensorboard']['report_hparams'] must be True or False, "
                              f"got {report_hparams!r}")
    _reporter.reset(report_hparams)
    for module in EVENT_WRITER_MODULES:
        when_imported(module, _bind_event_file_writer)
    when_imported("tensorflow", _bind_tf_summary)


# ---------------------------------------------------------------------------------- binding
def _bind_event_file_writer(module: Any) -> None:
    for name in ("EventFileWriter", "EventFileWriterV2"):
        writer = getattr(module, name, None)
        if writer is not None and hasattr(writer, "add_event"):
            patch(writer, "__init__", _registering_init)
            patch(writer, "add_event", _recording_add_event)


def _registering_init(original: Any) -> Any:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        _reporter.known_logdir(_logdir_of(self))  # add_scalars' writers are found as children of this one

    return __init__


def _recording_add_event(original: Any) -> Any:
    def add_event(self: Any, event: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, event, *args, **kwargs)
        _reporter.record(event, _logdir_of(self))
        return result

    return add_event


def _logdir_of(writer: Any) -> str:
    try:
        logdir = writer.get_logdir()
    except Exception:  # noqa: BLE001 - a writer without a logdir still reports
        logdir = getattr(writer, "_logdir", None)
    return _normal(logdir) if logdir else "."


def _normal(logdir: Any) -> str:
    return os.path.normpath(str(logdir)).replace("\\", "/")


def _bind_tf_summary(tf: Any) -> None:
    summary = getattr(tf, "summary", None)
    if summary is None:
        return
    if hasattr(summary, "create_file_writer"):
        patch(summary, "create_file_writer", _remembering_logdir)
    if hasattr(summary, "write"):
        patch(summary, "write", _recording_tf_write)
    experimental = getattr(summary, "experimental", None)
    if experimental is not None and hasattr(experimental, "write_raw_pb"):
        patch(experimental, "write_raw_pb", _recording_tf_write_raw_pb)


_tf_logdirs: dict[int, str] = {}  # id(tf summary writer) -> its logdir (tf writers don't expose it)


def _remembering_logdir(original: Any) -> Any:
    def create_file_writer(logdir: Any, *args: Any, **kwargs: Any) -> Any:
        writer = original(logdir, *args, **kwargs)
        _tf_logdirs[id(writer)] = _normal(logdir)
        return writer

    return create_file_writer


def _tf_context() -> Optional[tuple[Any, str]]:
    """(tensorflow, the default writer's logdir) when the call runs eagerly, else None (inside a
    ``tf.function`` graph the values don't exist yet)."""
    import tensorflow as tf
    if not tf.executing_eagerly():
        return None
    writer = None
    try:
        from tensorflow.python.ops import summary_ops_v2
        writer = summary_ops_v2._summary_state.writer
    except Exception:  # noqa: BLE001 - an unknown TF layout: one logdir for all tf.summary writers
        pass
    return tf, _tf_logdirs.get(id(writer), "tf.summary")


def _tf_step(tf: Any, step: Any) -> int:
    step = tf.summary.experimental.get_step() if step is None else step
    step = step.numpy() if hasattr(step, "numpy") else step
    return int(step) if step is not None else 0


def _recording_tf_write(original: Any) -> Any:
    def write(tag: Any, tensor: Any, step: Any = None, name: Any = None, metadata: Any = None) -> Any:
        result = original(tag, tensor, step=step, name=name, metadata=metadata)
        try:
            context = _tf_context() if _reporter.active() else None
            if context is None or not bool(result):  # False: no default writer, or recording is off
                return result
            tf, logdir = context
            from tensorboard.compat.proto import event_pb2, summary_pb2
            value = summary_pb2.Summary.Value(tag=str(tag.numpy().decode() if hasattr(tag, "numpy") else tag))
            if metadata is not None:
                raw = metadata if isinstance(metadata, bytes) else metadata.SerializeToString()
                value.metadata.ParseFromString(raw)
            data = tensor() if callable(tensor) else tensor  # tensorboard's lazy tensors cache their value
            value.tensor.ParseFromString(tf.make_tensor_proto(data.numpy() if hasattr(data, "numpy") else data)
                                         .SerializeToString())
            event = event_pb2.Event(step=_tf_step(tf, step), summary=summary_pb2.Summary(value=[value]))
        except Exception as exc:  # noqa: BLE001 - reporting must never break the user's tf.summary call
            _reporter.warn(exc)
            return result
        _reporter.record(event, logdir)
        return result

    return write


def _recording_tf_write_raw_pb(original: Any) -> Any:
    def write_raw_pb(tensor: Any, step: Any = None, name: Any = None) -> Any:
        result = original(tensor, step=step, name=name)
        try:
            context = _tf_context() if _reporter.active() else None
            if context is None or not bool(result):
                return result
            tf, logdir = context
            from tensorboard.compat.proto import event_pb2, summary_pb2
            import numpy as np
            raw = tensor.numpy() if hasattr(tensor, "numpy") else tensor
            events = [event_pb2.Event(step=_tf_step(tf, step), summary=summary_pb2.Summary.FromString(bytes(pb)))
                      for pb in np.atleast_1d(np.asarray(raw, dtype=object)).ravel()]
        except Exception as exc:  # noqa: BLE001
            _reporter.warn(exc)
            return result
        for event in events:
            _reporter.record(event, logdir)
        return result

    return write_raw_pb


# ---------------------------------------------------------------------------------- naming
def _split(tag: str, parts: int, default_title: str, reduce: bool = False) -> tuple[str, str]:
    """ClearML's tag split: the last ``parts`` '/'-parts are the series, the rest the title (joined by '_')."""
    pieces = tag.split("/")
    if reduce and parts > len(pieces) - 1:
        parts = max(1, len(pieces) - 1)
    return "_".join(pieces[:-parts]) or default_title, "_".join(pieces[-parts:])


def _header(logdir: str, other: str) -> str:
    """The parts of ``logdir`` another writer's logdir lacks (e.g. 'val' for runs/val vs runs/train)."""
    theirs = set(other.split("/"))
    return "/".join(p for p in logdir.split("/") if p not in theirs) or logdir


def _with_header(mode: str, title: str, series: str, header: str) -> tuple[str, str]:
    if mode == "series_last":
        return title, f"{header}: {series}"
    if mode == "series":
        return title, f"{series} :{header}"
    return f"{title} {header}", series


# ---------------------------------------------------------------------------------- reporting
class _Reporter:
    """Turns Event protobufs into reports of the current task; one for the process."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._logdirs: set[str] = set()  # every writer seen: the parents of add_scalars' writers
        self._warned = False
        self.reset(True)

    def reset(self, report_hparams: bool) -> None:
        with self._lock:
            self.report_hparams = report_hparams
            self._task_id: Optional[str] = None
            self._clear()

    def _clear(self) -> None:
        self._owners: dict[tuple[str, str, str], str] = {}     # (kind, title, series) -> logdir owning it
        self._names: dict[tuple[str, str, str, str], tuple[str, str]] = {}
        self._steps: dict[tuple[str, str], list[int]] = {}      # (title, series) -> [last step, offset]
        self._groups: dict[tuple[str, str], Optional[tuple[str, str]]] = {}
        self._plugins: dict[str, str] = {}                      # tag -> plugin (only the first event has metadata)

    def known_logdir(self, logdir: str) -> None:
        with self._lock:
            self._logdirs.add(logdir)

    @staticmethod
    def active() -> bool:
        from ..task import Task
        return Task.current_task() is not None

    def warn(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"pipetrack: could not record a TensorBoard event: {type(exc).__name__}: {exc}",
                          RuntimeWarning, stacklevel=3)

    def record(self, event: Any, logdir: str) -> None:
        """Report ``event`` (written to ``logdir``) to the current task, if there is one."""
        from ..task import Task
        task = Task.current_task()
        if task is None:
            return
        try:
            with self._lock:
                self._logdirs.add(logdir)
                if task.id != self._task_id:
                    self._task_id = task.id
                    self._clear()
                if event.HasField("summary"):
                    for value in event.summary.value:
                        self._value(task, value, int(event.step), logdir, type(event).__module__)
        except Exception as exc:  # noqa: BLE001 - the user's writer goes on whatever we fail to read
            self.warn(exc)

    # ------------------------------------------------------------------ one summary value
    def _value(self, task: Any, value: Any, step: int, logdir: str, proto_module: str) -> None:
        tag = value.tag
        kind = value.WhichOneof("value")
        plugin = value.metadata.plugin_data.plugin_name if value.HasField("metadata") else ""
        if plugin:
            self._plugins[tag] = plugin
        plugin = plugin or self._plugins.get(tag, "")
        logger = task.get_logger()
        if plugin == "hparams":
            if tag == _HPARAMS_START_TAG and self.report_hparams:
                self._hparams(task, value.metadata.plugin_data.content, proto_module)
            return
        if kind == "simple_value":
            self._scalar(logger, tag, step, value.simple_value, logdir)
        elif kind == "histo":
            histo = value.histo
            self._histogram(logger, tag, step, list(histo.bucket_limit), list(histo.bucket), histo.min, histo.max,
                            logdir)
        elif kind == "image":
            self._image(logger, tag, step, value.image.encoded_image_string, logdir)
        elif kind == "audio":
            self._audio(logger, tag, step, value.audio.encoded_audio_string, value.audio.content_type, logdir)
        elif kind == "tensor":
            self._tensor(logger, tag, step, value.tensor, plugin, logdir)

    def _tensor(self, logger: Any, tag: str, step: int, tensor: Any, plugin: str, logdir: str) -> None:
        """The plugins' tensor forms (TF2 tf.summary, tensorboardX/torch add_text, new-style scalars)."""
        if plugin == "text":
            text = "\n".join(s.decode("utf-8", errors="replace") for s in tensor.string_val)
            self._text(logger, tag, step, text, logdir)
        elif plugin == "images":  # [width, height, encoded image, ...]
            images = list(tensor.string_val)[2:]
            for index, data in enumerate(images):
                self._image(logger, tag if len(images) == 1 else f"{tag}/image/{index}", step, data, logdir)
        elif plugin == "audio":  # [[encoded audio, label], ...]
            clips = list(tensor.string_val)[::2] if len(tensor.tensor_shape.dim) == 2 else list(tensor.string_val)
            for index, data in enumerate(clips):
                self._audio(logger, tag if len(clips) == 1 else f"{tag}/audio/{index}", step, data, "audio/wav",
                            logdir)
        elif plugin == "histograms":  # [[left edge, right edge, count], ...]
            rows = _numbers(tensor).reshape(-1, 3)
            if len(rows):
                self._histogram(logger, tag, step, rows[:, 1].tolist(), rows[:, 2].tolist(), float(rows[0, 0]),
                                float(rows[-1, 1]), logdir)
        elif plugin in ("scalars", "") and tensor.dtype in _DTYPES:
            numbers = _numbers(tensor)
            if numbers.size == 1:
                self._scalar(logger, tag, step, float(numbers.ravel()[0]), logdir)

    # ------------------------------------------------------------------ each kind
    def _name(self, kind: str, mode: str, title: str, series: str, logdir: str) -> tuple[str, str]:
        """``(title, series)``, with ``logdir``'s distinct parts added when another writer owns them."""
        key = (logdir, kind, title, series)
        if key in self._names:
            return self._names[key]
        owner = self._owners.setdefault((kind, title, series), logdir)
        name = (title, series)
        if owner != logdir:
            name = _with_header(mode, title, series, _header(logdir, owner))
            if self._owners.get((kind, *name), logdir) != logdir:
                name = _with_header(mode, title, series, logdir)
            self._owners[(kind, *name)] = logdir
        self._names[key] = name
        return name

    def _step(self, title: str, series: str, step: int) -> int:
        """A step that restarts (below 90% of the last one) continues past the previous run."""
        state = self._steps.get((title, series))
        if state is None:
            self._steps[(title, series)] = [step, 0]
            return step
        if step < state[0] and step < 0.9 * state[0]:
            state[1] += state[0] + (1 if step <= 0 else step)
        state[0] = step
        return step + state[1]

    def _scalars_group(self, tag: str, logdir: str) -> Optional[tuple[str, str]]:
        """``(main tag, key)`` when ``logdir`` is one of ``add_scalars(main_tag, {key: ...})``'s writers:
        a child of another writer's logdir named ``main_tag/key`` (tensorboardX) or ``main_tag_key`` (torch)."""
        if (tag, logdir) not in self._groups:
            found = None
            for parent in sorted(self._logdirs, key=len, reverse=True):
                if parent == logdir or not logdir.startswith(parent.rstrip("/") + "/"):
                    continue
                rest = logdir[len(parent.rstrip("/")) + 1:]
                for prefix in (tag + "/", tag.replace("/", "_") + "_"):
                    if rest.startswith(prefix) and len(rest) > len(prefix):
                        found = (tag, rest[len(prefix):])
                        break
                if found:
                    break
            self._groups[(tag, logdir)] = found
        return self._groups[(tag, logdir)]

    def _scalar(self, logger: Any, tag: str, step: int, value: float, logdir: str) -> None:
        group = self._scalars_group(tag, logdir)
        title, series = group or _split(tag, 1, tag)
        title, series = self._name("scalar", "series_last", title, series, logdir)
        logger.report_scalar(title, series, float(value), iteration=self._step(title, series, step))

    def _histogram(self, logger: Any, tag: str, step: int, limits: list, counts: list, low: float, high: float,
                   logdir: str) -> None:
        """One bar chart per step: counts over the buckets' right edges; tensorboardX's hundreds of
        exponential buckets are summed into ``HISTOGRAM_BINS`` even bins between the data's min and max."""
        pairs = [(limit, count) for limit, count in zip(limits, counts) if math.isfinite(limit)]
        if not pairs:
            return
        if len(pairs) > HISTOGRAM_BINS and math.isfinite(low) and math.isfinite(high) and high > low:
            pairs = _rebinned(pairs, low, high)
        title, series = self._name("plot", "series", *_split(tag, 1, "Histograms"), logdir)
        logger.report_histogram(title, series, [count for _, count in pairs], iteration=self._step(title, series, step),
                                xlabels=[limit for limit, _ in pairs], xaxis="value", yaxis="count")

    def _image(self, logger: Any, tag: str, step: int, data: bytes, logdir: str) -> None:
        if not data:
            return
        title, series = self._name("sample", "title", *_split(tag, 3, "Images", reduce=True), logdir)
        extension = ".gif" if data[:4] == b"GIF8" else ".jpg" if data[:2] == b"\xff\xd8" else ".png"
        path = _temporary(data, extension)
        try:  # the encoded image as written (no re-encoding): report_image uploads the file
            logger.report_image(title, series, iteration=self._step(title, series, step), local_path=path,
                                delete_after_upload=True)
        finally:
            if os.path.exists(path):
                os.remove(path)

    def _audio(self, logger: Any, tag: str, step: int, data: bytes, content_type: str, logdir: str) -> None:
        if not data:
            return
        title, series = self._name("sample", "title", *_split(tag, 3, "Audio", reduce=True), logdir)
        extension = mimetypes.guess_extension(content_type or "") or ".wav"
        logger.report_media(title, series, iteration=self._step(title, series, step), stream=io.BytesIO(data),
                            file_extension=extension)

    def _text(self, logger: Any, tag: str, step: int, text: str, logdir: str) -> None:
        title, series = self._name("sample", "title", *_split(tag, 3, "Text", reduce=True), logdir)
        logger.report_media(title, series, iteration=self._step(title, series, step), stream=io.StringIO(text),
                            file_extension=".txt")

    def _hparams(self, task: Any, content: bytes, proto_module: str) -> None:
        data = _hparams_proto(proto_module).FromString(content)
        if data.WhichOneof("data") != "session_start_info":
            return
        params = {f"{HPARAMS_SECTION}/{name}": _hparam_value(value)
                  for name, value in data.session_start_info.hparams.items() if value.WhichOneof("kind")}
        if params:
            task.update_parameters(params)


def _numbers(tensor: Any) -> Any:
    """A numeric TensorProto's values as a numpy array of its shape."""
    import numpy as np
    dtype = np.dtype(_DTYPES[tensor.dtype])
    shape = [d.size for d in tensor.tensor_shape.dim]
    if tensor.tensor_content:
        array = np.frombuffer(tensor.tensor_content, dtype=dtype)
    else:
        listed = (tensor.float_val or tensor.double_val or tensor.int_val or tensor.int64_val
                  or tensor.half_val)
        array = np.asarray(list(listed), dtype=dtype if tensor.dtype != 19 else np.uint16)
        if tensor.dtype == 19:  # half_val holds the float16 bit patterns
            array = array.view(np.float16)
    size = int(np.prod(shape)) if shape else 1
    if array.size == 1 and size > 1:  # a constant tensor stores its value once
        array = np.full(size, array[0])
    return array.astype(np.float64).reshape(shape) if shape else array.astype(np.float64)


def _rebinned(pairs: list, low: float, high: float) -> list:
    """``(right edge, count)`` buckets summed into HISTOGRAM_BINS even bins over [low, high], each
    bucket's count shared among the bins it overlaps (the total count is kept)."""
    width = (high - low) / HISTOGRAM_BINS
    counts = [0.0] * HISTOGRAM_BINS
    left = low
    for limit, count in pairs:
        start, end = max(left, low), min(limit, high)
        left = limit
        if not count:
            continue
        if end <= start:  # a bucket outside [low, high] or narrower than rounding: the nearest bin takes it
            counts[min(HISTOGRAM_BINS - 1, max(0, int((min(max(limit, low), high) - low) / width)))] += count
            continue
        first, last = int((start - low) / width), min(HISTOGRAM_BINS - 1, int((end - low) / width))
        for index in range(first, last + 1):
            overlap = min(end, low + (index + 1) * width) - max(start, low + index * width)
            counts[index] += count * max(0.0, overlap) / (end - start)
    return [(low + (index + 1) * width, count) for index, count in enumerate(counts)]


def _hparams_proto(proto_module: str) -> Any:
    """The HParamsPluginData class of the library that wrote the event (tensorboardX has its own)."""
    if proto_module.startswith("tensorboardX"):
        from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
        return HParamsPluginData
    try:
        from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
    except ImportError:
        from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
    return HParamsPluginData


def _hparam_value(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":  # the protocol stores every number as a double: 32 comes back 32.0
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2 ** 53 else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def _temporary(data: bytes, extension: str) -> str:
    handle, path = tempfile.mkstemp(prefix="pipetrack-tb-", suffix=extension)
    with os.fdopen(handle, "wb") as file:
        file.write(data)
    return path


_reporter = _Reporter()
