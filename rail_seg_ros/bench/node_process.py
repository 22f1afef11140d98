"""The node the live bench starts: its parameters file and command line (from the contract), its process.

The node gets the model and engine as asked and its default QoS otherwise (best-effort input with a
reader history of 10, reliable outputs), as a user's node has; it inherits the bench's DDS profile
(rail_seg_ros.dds), which lets camera-sized best-effort frames arrive.
"""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..contract import NODE_NAME, PARAMETERS_BY_NAME, TRANSPORT_COMPRESSED, TRANSPORT_RAW, join_name
from ..errors import RailSegError

SPAWN_NAMESPACE = "/rail_seg_bench"


class NodeProcess:
    """The node started as a separate process; its output goes to a log file."""

    def __init__(self, command: List[str], env: Dict[str, str]) -> None:
        self.command = command
        self.log = tempfile.NamedTemporaryFile(prefix="rail-seg-node-", suffix=".log", delete=False)
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.log,
                                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
        except OSError as exc:
            self.log.close()
            os.unlink(self.log.name)
            raise RailSegError(f"cannot start {NODE_NAME} ({command[0]}): {exc}") from None
        self.returncode: Optional[int] = None

    def tail(self, lines: int = 15) -> str:
        try:
            text = Path(self.log.name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if line.strip()]
        return "\n".join(kept[-lines:])

    def check(self, what: str) -> None:
        """Raise a RailSegError with the end of the node's log when the process has exited."""
        code = self.process.poll()
        if code is not None:
            self.returncode = code
            tail = self.tail()
            raise RailSegError(f"{NODE_NAME} exited with status {code} {what}; its last output:\n{tail}"
                               if tail else f"{NODE_NAME} exited with status {code} {what} (no output)")

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """SIGINT (a clean shutdown), then SIGTERM, then SIGKILL; return the exit status."""
        proc = self.process
        try:
            for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                if proc.poll() is not None:
                    break
                try:
                    proc.send_signal(sig)
                    proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    continue
                except OSError:
                    break
        except KeyboardInterrupt:  # a second Ctrl-C: do not leave the node behind
            proc.kill()
            proc.wait()
            raise
        self.returncode = proc.poll()
        return self.returncode

    def remove_log(self) -> None:
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


def node_command(namespace: str, node_name: str, params_file: Path, extra_params: Sequence[str]) -> List[str]:
    """The command line starting the node (``python -m rail_seg_ros.node``, as the console script does)."""
    for item in extra_params:
        if ":=" not in item:
            raise RailSegError(f"--node-param {item!r}: expected NAME:=VALUE")
    command = [sys.executable, "-m", "rail_seg_ros.node", "--ros-args", "-r", f"__ns:={join_name(namespace)}",
               "-r", f"__node:={node_name}", "--params-file", str(params_file)]
    for item in extra_params:
        command += ["-p", item]
    return command


def absolute_if_file(value: Optional[str]) -> Optional[str]:
    """A path that exists made absolute (the node runs elsewhere); anything else (a card name) as given."""
    if not value:
        return value
    path = Path(os.path.expanduser(value))
    return str(path.resolve()) if path.exists() else value


def spawn_parameters(model: str, weights: Optional[str], backend: str, precision: str, device: str,
                     cache_dir: Optional[str], calibration: Optional[str], compressed: bool) -> Dict[str, Any]:
    """The parameters the bench gives the node it starts: the model and engine as asked, the default QoS."""
    return {
        "model": absolute_if_file(model), "weights": absolute_if_file(weights) or "",
        "backend": backend, "precision": precision, "device": device,
        "engine_cache_dir": str(Path(cache_dir).resolve()) if cache_dir else "",
        "calibration": absolute_if_file(calibration) or "",
        "input_transport": TRANSPORT_COMPRESSED if compressed else TRANSPORT_RAW,
    }


def write_params_file(values: Dict[str, Any]) -> Path:
    """A temporary ``/**: ros__parameters`` file with ``values``, each checked against the node's parameter table."""
    import yaml

    for name, value in values.items():
        spec = PARAMETERS_BY_NAME.get(name)
        reason = f"{name} is not a parameter of {NODE_NAME}" if spec is None else spec.check(value)
        if reason:
            raise RailSegError(f"node parameter {reason}")
    handle, name = tempfile.mkstemp(prefix="rail-seg-bench-", suffix=".yaml")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        yaml.safe_dump({"/**": {"ros__parameters": values}}, out, sort_keys=False)
    return Path(name)
