"""Shared test fixtures: the public SqueezeNAS fixtures from ../shared (tests skip where it is absent),
and small random-weight model cards that run fast on a CPU."""

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np
import pytest

from rail_seg_ros.labels import CITYSCAPES_ID_TO_TRAIN_ID

# DDS stays on this machine in every test that starts a participant (each module sets its own domain).
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
# The test process publishes camera-sized frames as a camera driver does: it gets the package's DDS profile, as
# the README tells users to export it, before any participant exists (Fast DDS reads it once per process).
from rail_seg_ros.dds import apply_profile  # noqa: E402

apply_profile()
# RAIL_SEG_TEST_DOMAIN_OFFSET shifts every test's domain, so two checkouts can run their suites at once.
DOMAIN_OFFSET = int(os.environ.get("RAIL_SEG_TEST_DOMAIN_OFFSET", "0"))


def spin_in_thread(context: Any, *nodes: Any) -> Tuple[Any, threading.Thread]:
    """A two-thread rclpy executor spinning ``nodes`` in a daemon thread (the node tests' harnesses)."""
    from rclpy.executors import MultiThreadedExecutor

    executor = MultiThreadedExecutor(num_threads=2, context=context)
    for node in nodes:
        executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return executor, thread


class KeepsMessages:
    """Mixin of the node tests' harnesses: subscription callbacks that keep messages in ``self.kept`` (name ->
    list, under ``self.lock``), and the node's own DiagnosticStatus (the node in ``self.namespace``) under
    ``STATUS_KEY``."""

    STATUS_KEY = "statuses"

    def _keeper(self, name: str) -> Callable[[Any], None]:
        def keep(msg: Any) -> None:
            with self.lock:
                self.kept[name].append(msg)
        return keep

    def close(self) -> None:
        """Stop spinning (``self.executor``, ``self.thread``) and destroy ``self.node`` (and ``self.peer``)."""
        self.executor.shutdown()
        self.thread.join(timeout=10)
        for node in (self.node, getattr(self, "peer", None)):
            if node is not None:
                node.destroy_node()

    def _on_diagnostics(self, msg: Any) -> None:
        from rail_seg_ros.contract import NODE_NAME, join_name, status_name

        for status in msg.status:
            if status.name == status_name(join_name(self.namespace, NODE_NAME)):
                with self.lock:
                    self.kept[self.STATUS_KEY].append(status)


def wait_for(predicate: Callable[[], bool], what: str, timeout: float,
             describe: Callable[[], str] = lambda: "") -> None:
    """Poll ``predicate`` until it holds; an AssertionError naming ``what`` after ``timeout`` s (a bound for a
    loaded machine, never a speed claim)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} {describe()}".rstrip())


def stop_process(process: Any, timeout: float = 20.0) -> None:
    """Ctrl-C (SIGINT) for a node process, as a user stops it; killed if it has not exited by ``timeout``."""
    process.send_signal(2)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def ros_domain(domain: int) -> int:
    """The ROS domain a test uses: its own number plus the checkout's offset (domains go up to 232)."""
    return domain + DOMAIN_OFFSET


# ---- torch: the Python 3.8 venv has none (its torch builds on the package index pull CUDA packages) ------
TORCH_FIXTURES = frozenset({"small_card"})  # fixtures that build a network with torch


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "needs_torch: builds, exports or loads a network with torch; skipped "
                                       "where torch is not installed (the Python 3.8 core run)")
    # full-size graph sweeps: they run by default (and in CI); -m "not heavy" leaves them out locally
    config.addinivalue_line("markers", "heavy: slow full-size export sweeps (deselect with -m 'not heavy')")


def pytest_collection_modifyitems(config, items) -> None:
    if importlib.util.find_spec("torch") is not None:
        return
    skip = pytest.mark.skip(reason="needs torch, which this Python lacks (as make test's 3.8 and Jazzy venvs)")
    for item in items:
        if item.get_closest_marker("needs_torch") or TORCH_FIXTURES.intersection(item.fixturenames):
            item.add_marker(skip)


SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"
SQUEEZENAS = FIXTURES / "squeezenas"


def shared_path(*parts: str) -> Path:
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared fixtures are not beside this checkout)")
    return path


@pytest.fixture(scope="session")
def reference_input() -> np.ndarray:
    """The reference 1024x2048 input as RGB."""
    bgr = cv2.imread(str(shared_path("squeezenas", "reference", "input_structured_1024x2048.png")))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One engine cache for the session: each graph is exported once."""
    return tmp_path_factory.mktemp("engine-cache")


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """A smooth 1080x1920 RGB camera-sized frame (the pipeline and export tests)."""
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, (9, 16, 3), dtype=np.uint8)
    return cv2.resize(small, (1920, 1080), interpolation=cv2.INTER_CUBIC)


# ---- the bench's frames, reports and CLI ----------------------------------------------------------------

BENCH_SIZE = (128, 256)  # height, width of the bench tests' frames: the small card's input size
REQUIRED_REPORT_KEYS = (
    "frames", "dropped", "unmatched", "miou", "pixel_accuracy", "per_class", "category_miou", "latency_ms",
    "jitter_ms", "fps", "sent", "received", "stages_ms", "model", "backend", "precision", "bag", "mode",
    "miou_definition",
)


def random_frames(count: int, seed: int = 0, gt: bool = True) -> List[Tuple[np.ndarray, Optional[np.ndarray]]]:
    """Blurred random RGB frames of BENCH_SIZE (so a network's output varies) with random ground truth."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        image = rng.integers(0, 256, BENCH_SIZE + (3,), dtype=np.uint8)
        image = cv2.GaussianBlur(image, (9, 9), 3)
        labels = rng.integers(0, 19, BENCH_SIZE).astype(np.uint8) if gt else None
        if labels is not None:
            labels[:4] = 255
        frames.append((image, labels))
    return frames


def tree_hashes(root: Path) -> Dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def read_report(folder: Path) -> dict:
    """report.json, refusing NaN and infinities."""
    def reject(name):
        raise AssertionError(f"{name} in report.json")

    return json.loads((folder / "report.json").read_text(encoding="utf-8"), parse_constant=reject)


_SEGMENTERS: Dict[str, Any] = {}


def torch_segmenter(card: Path) -> Any:
    """One torch Segmenter per card for the whole session (loading one costs seconds on a busy machine)."""
    from rail_seg_ros.pipeline import Segmenter

    if str(card) not in _SEGMENTERS:
        _SEGMENTERS[str(card)] = Segmenter.from_options(str(card), backend="torch", device="cpu")
    return _SEGMENTERS[str(card)]


def expected_confusion(card: Path, frames) -> Any:
    """What the bench should find: the same Segmenter run over the same frames, scored here."""
    from rail_seg_ros.metrics import ConfusionMatrix

    segmenter = torch_segmenter(card)
    cm = ConfusionMatrix(19)
    for image, gt in frames:
        if gt is not None:
            cm.update(segmenter.process(image).labels, gt)
    return cm


def rail_seg(*args: str) -> subprocess.CompletedProcess:
    """``rail-seg ARGS`` in a fresh interpreter, as a user runs it (exit code, stdout, stderr)."""
    return subprocess.run([sys.executable, "-m", "rail_seg_ros.cli", *args], capture_output=True, text=True)


def run_cli(*args: Any) -> int:
    """``rail-seg ARGS`` in this process; its exit status."""
    from rail_seg_ros import cli

    return cli.main([str(a) for a in args])


def write_small_card(directory: Path, architecture: str = "squeezenas_mac_small", label_set: str = "railsem19",
                     size=(128, 256), seed: int = 0, resize: str = "stretch") -> Path:
    """A card with seeded random weights at a small input size: fast, and needs nothing from ../shared."""
    import torch  # here, not at the top: the Python 3.8 core tests run without torch

    from rail_seg_ros.nets import build_model

    torch.manual_seed(seed)
    model = build_model(architecture, 19)
    for module in model.modules():  # fresh BN statistics make every pixel one class; these do not
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_var.fill_(0.05)
    weights = directory / f"{architecture}-{seed}.pt"
    torch.save(model.state_dict(), weights)
    card = directory / f"{architecture}-{seed}.yaml"
    card.write_text(
        f"architecture: {architecture}\nlabel_set: {label_set}\ninput_size: [{size[0]}, {size[1]}]\n"
        f"resize: {resize}\nweights: {weights.name}\n")
    return card


@pytest.fixture(scope="session")
def small_card(tmp_path_factory) -> Path:
    return write_small_card(tmp_path_factory.mktemp("card"))


# ---------------------------------------------------------------------------------------------
# Frames and dataset folders (the bag, dataset and make-bag tests)

START_NS = 1_700_000_000_000_000_000


def make_frames(count: int, height: int = 24, width: int = 40) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Smooth, distinct RGB images (jpeg keeps them close) and label maps with several ids."""
    ys, xs = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(count):
        image = np.stack([xs * 255 // width, ys * 255 // height, np.full_like(xs, 30 + 40 * i)], axis=2)
        labels = ((xs // 8 + ys // 8 + i) % 19).astype(np.uint8)
        labels[0, 0] = 255
        frames.append((image.astype(np.uint8), labels))
    return frames


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), array)


def railsem19_tree(root: Path) -> List[Tuple[np.ndarray, np.ndarray]]:
    frames = make_frames(3)
    for i, (image, labels) in enumerate(frames):
        suffix = ".jpg" if i < 2 else ".png"
        write_png(root / "jpgs" / "rs19_val" / f"rs{i:05d}{suffix}", image)
        if i != 1:
            write_png(root / "uint8" / "rs19_val" / f"rs{i:05d}.png", labels)
    (root / "jpgs" / "rs19_val" / "notes.txt").write_text("not an image")
    return frames


def cityscapes_tree(root: Path, train_ids: bool) -> List[Tuple[np.ndarray, np.ndarray]]:
    frames = make_frames(3)
    full_ids = {train: full for full, train in enumerate(CITYSCAPES_ID_TO_TRAIN_ID.tolist()) if train != 255}
    for i, (image, labels) in enumerate(frames):
        city = "aachen" if i < 2 else "bochum"
        prefix = f"{city}_{i:06d}_000019"
        write_png(root / "leftImg8bit" / "val" / city / f"{prefix}_leftImg8bit.png", image)
        gt_dir = root / "gtFine" / "val" / city
        if train_ids:
            write_png(gt_dir / f"{prefix}_gtFine_labelTrainIds.png", labels)
        else:
            ids = np.vectorize(lambda t: full_ids.get(t, 0))(labels).astype(np.uint8)
            write_png(gt_dir / f"{prefix}_gtFine_labelIds.png", ids)
        write_png(gt_dir / f"{prefix}_gtFine_color.png", image)  # present in the release, never used
    return frames
