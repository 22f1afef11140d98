"""Reading bags: a rosbag2 directory, a bare ``.db3`` / ``.mcap`` file, or a directory holding one
storage file but no ``metadata.yaml``. Bags without stored message definitions (Humble and older) are
decoded with an explicit typestore (``ros2_humble`` unless the caller names another). Never writes.
"""

import struct
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Type, TypeVar

import apsw
from rosbags.interfaces import MessageDefinitionFormat, Qos
from rosbags.rosbag2 import Reader, ReaderError
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, TypesysError, get_types_from_idl, get_types_from_msg, get_typestore

from rail_seg_ros.errors import RailSegError
from rail_seg_ros.fileio import PathLike

from .messages import DEFAULT_FALLBACK_TYPESTORE, fallback_typestore

_STORAGE_SUFFIXES = (".db3", ".mcap")
# What rosbags (and the sqlite / mcap parsers under it) raise on a damaged or foreign file.
_READ_ERRORS = (
    ReaderError, SerdeError, TypesysError, apsw.Error, OSError, EOFError, struct.error,
    ValueError, LookupError, TypeError, AssertionError,
)
_ReaderT = TypeVar("_ReaderT", bound="BagReader")


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type name where it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _storage_target(path: Path) -> Path:
    """What rosbags should open for ``path``: the directory, or a bare storage file."""
    if not path.exists():
        raise RailSegError(f"bag {path}: no such file or directory")
    if path.is_dir():
        if (path / "metadata.yaml").exists():
            return path
        files = sorted(p for p in path.iterdir() if p.suffix in _STORAGE_SUFFIXES and p.is_file())
        if len(files) == 1:
            return files[0]
        raise RailSegError(f"bag {path}: not a rosbag2 directory (no metadata.yaml and not exactly one .db3/.mcap)")
    if path.suffix not in _STORAGE_SUFFIXES:
        raise RailSegError(f"bag {path}: not a bag (expected a rosbag2 directory, a .db3 or an .mcap file)")
    return path


def _types_from_definition(connection: Any) -> Dict[str, Any]:
    msgdef = connection.msgdef
    if msgdef.format == MessageDefinitionFormat.MSG:
        return get_types_from_msg(msgdef.data, connection.msgtype)
    sep = "=" * 80 + "\n"
    types: Dict[str, Any] = {}
    if msgdef.data.startswith(sep + "IDL: "):
        for part in msgdef.data.split(sep)[1:]:
            types.update(get_types_from_idl(part.split("\n", 1)[1]))
    else:
        types.update(get_types_from_idl(msgdef.data))
    return types


def _build_typestore(connections: Sequence[Any], fallback: Optional[str]) -> Any:
    """Types from the definitions stored in the bag; the fallback typestore for connections without."""
    types: Dict[str, Any] = {}
    if any(c.msgdef.format == MessageDefinitionFormat.NONE for c in connections):
        types.update(fallback_typestore(fallback).fielddefs)
    for connection in connections:
        if connection.msgdef.format != MessageDefinitionFormat.NONE:
            types.update(_types_from_definition(connection))
    store = get_typestore(Stores.EMPTY)
    store.register(types)
    return store


class BagReader:
    """An open bag: topics, counts, duration and deserialized messages. Never writes to the bag."""

    def __init__(self, path: PathLike, typestore: Optional[str] = None) -> None:
        self.path = Path(path)
        self._reader = Reader(_storage_target(self.path))
        try:
            self._reader.open()
        except _READ_ERRORS as exc:
            raise RailSegError(f"bag {self.path}: cannot be read ({_one_line(exc)})") from None
        self._connections = list(self._reader.connections)
        self._fallback = typestore
        try:
            self.typestore = _build_typestore(self._connections, typestore)
        except RailSegError:
            self.close()
            raise
        except _READ_ERRORS as exc:
            self.close()
            raise RailSegError(f"bag {self.path}: bad message definition ({_one_line(exc)})") from None

    @property
    def topics(self) -> Dict[str, str]:
        """Topic name -> message type."""
        return {c.topic: c.msgtype for c in self._connections}

    def message_count(self, topic: str) -> int:
        """Messages stored on ``topic``."""
        self.check_topics([topic])
        return sum(c.msgcount for c in self._connections if c.topic == topic)

    def qos_profiles(self, topic: str) -> List[Qos]:
        """The offered QoS profiles recorded for ``topic`` (rosbags Qos tuples)."""
        self.check_topics([topic])
        return [q for c in self._connections if c.topic == topic for q in c.ext.offered_qos_profiles]

    @property
    def duration_s(self) -> float:
        """Seconds between the first and the last message's log time."""
        if not self._reader.message_count:
            return 0.0
        return max(0, self._reader.end_time - 1 - self._reader.start_time) / 1e9

    def check_topics(self, topics: Iterable[str]) -> None:
        """An error listing the bag's topics unless it has every one of ``topics``."""
        missing = [t for t in topics if t not in self.topics]
        if missing:
            have = ", ".join(sorted(self.topics)) or "none"
            raise RailSegError(f"bag {self.path}: no topic {', '.join(missing)} (it has: {have})")

    def _check_types(self, connections: Sequence[Any]) -> None:
        for connection in connections:
            if connection.msgtype not in self.typestore.types:
                store = self._fallback or DEFAULT_FALLBACK_TYPESTORE
                raise RailSegError(
                    f"bag {self.path}: type {connection.msgtype} of {connection.topic} is neither stored in "
                    f"the bag nor in typestore {store}"
                )

    def read(self, topics: Optional[Iterable[str]] = None) -> Iterator[Tuple[str, str, int, Any]]:
        """Yield (topic, msgtype, log time ns, message) in log-time order, for ``topics`` or all."""
        wanted = list(self.topics) if topics is None else list(topics)
        self.check_topics(wanted)
        connections = [c for c in self._connections if c.topic in wanted]
        self._check_types(connections)
        if not connections:
            return
        try:
            for connection, timestamp, raw in self._reader.messages(connections=connections):
                msg = self.typestore.deserialize_cdr(raw, connection.msgtype)
                yield connection.topic, connection.msgtype, int(timestamp), msg
        except _READ_ERRORS as exc:
            raise RailSegError(f"bag {self.path}: cannot be read ({_one_line(exc)})") from None

    def close(self) -> None:
        """Close the bag (safe to call twice)."""
        if self._reader.is_open:
            self._reader.close()

    def __enter__(self: _ReaderT) -> _ReaderT:  # noqa: PYI019 (typing.Self is 3.11+)
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()


def open_bag(path: PathLike, typestore: Optional[str] = None) -> BagReader:
    """Open a bag for reading (use as a context manager). ``typestore`` names the fallback store."""
    return BagReader(path, typestore=typestore)
