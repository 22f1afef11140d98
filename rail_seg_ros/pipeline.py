"""The core: an RGB frame in; labels, colour, overlay and confidence out, with per-stage timings.

The ROS node, the bag tools and the CLI all call :class:`Segmenter`; none of them resizes, normalises
or colours images on its own.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from .backends import Backend, create_backend
from .contract import OUTPUT_RESOLUTIONS, Reject, Stage
from .errors import FrameError, RailSegError
from .head import LOW_LABELS, LOW_LOGITS, content_extent, sparse_confidence, sparse_labels
from .labels import LabelSet
from .model_card import ModelCard, load_card
from .nets import get_architecture

UPSAMPLING = ("nearest", "bilinear")
# The sparse head samples labels straight at the frame's size up to this many output pixels per
# low-resolution logit cell (16 x 16; 1920x1080 from a 1024x2048 network's stride-8 logits: ~63).
DIRECT_PIXELS_PER_CELL = 256


@dataclass(frozen=True)
class ResizePlan:
    """How a frame of one size maps onto the network's input, and back."""

    frame: Tuple[int, int]  # height, width of the incoming frame
    model: Tuple[int, int]  # the network's input size
    content: Tuple[int, int]  # the part of the model input the frame covers (smaller than model for ``fit``)

    @classmethod
    def make(cls, frame: Tuple[int, int], model: Tuple[int, int], policy: str) -> "ResizePlan":
        if policy == "stretch":
            return cls(frame, model, model)
        scale = min(model[0] / frame[0], model[1] / frame[1])
        content = (min(model[0], max(1, round(frame[0] * scale))), min(model[1], max(1, round(frame[1] * scale))))
        return cls(frame, model, content)


@dataclass
class SegmentationResult:
    labels: np.ndarray  # H x W uint8 class ids
    color: Optional[np.ndarray] = None  # H x W x 3 RGB palette image
    overlay: Optional[np.ndarray] = None  # H x W x 3 RGB, the frame blended with the palette
    confidence: Optional[np.ndarray] = None  # H x W uint8, max softmax x 255
    timings_ms: Dict[str, float] = field(default_factory=dict)


class Segmenter:
    """Runs one model card through one backend, frame by frame."""

    def __init__(self, card: ModelCard, backend: Backend, overlay_alpha: float = 0.5,
                 upsampling: str = "nearest", output_resolution: str = "input"):
        if upsampling not in UPSAMPLING:
            raise RailSegError(f"upsampling {upsampling!r} is not one of {', '.join(UPSAMPLING)}")
        if output_resolution not in OUTPUT_RESOLUTIONS:
            raise RailSegError(f"output_resolution {output_resolution!r} is not input or model")
        if upsampling == "bilinear" and "logits" not in backend.outputs:
            raise RailSegError("bilinear upsampling needs a backend created with the logits output")
        self.card = card
        self.backend = backend
        self.labels: LabelSet = card.labels
        self.overlay_alpha = overlay_alpha
        self.upsampling = upsampling
        self.output_resolution = output_resolution
        self._plans: Dict[Tuple[int, int], ResizePlan] = {}
        self._canvas: Optional[np.ndarray] = None
        self._palette_lut = np.ascontiguousarray(self.labels.palette.reshape(256, 1, 3))

    @classmethod
    def from_options(cls, model: str, weights: Optional[str] = None, backend: str = "auto",
                     precision: str = "fp32", device: str = "auto", label_set: Optional[str] = None,
                     color_order: Optional[str] = None, confidence: bool = False, upsampling: str = "nearest",
                     overlay_alpha: float = 0.5, output_resolution: str = "input",
                     cache_dir: Optional[Path] = None, threads: Optional[int] = None,
                     calibration: Optional[str] = None, input_size: Optional[Tuple[int, int]] = None) -> "Segmenter":
        """Card by name/path/architecture, backend by name: what the CLI and the node are given."""
        card = load_card(model, weights=weights, label_set=label_set, color_order=color_order, input_size=input_size)
        outputs = ["labels"] + (["confidence"] if confidence else []) + (["logits"] if upsampling == "bilinear" else [])
        engine = create_backend(card, backend, precision, device, outputs, cache_dir, threads, calibration)
        return cls(card, engine, overlay_alpha, upsampling, output_resolution)

    # -- stages --------------------------------------------------------------------------------------
    def plan(self, height: int, width: int) -> ResizePlan:
        key = (height, width)
        plan = self._plans.get(key)
        if plan is None:
            smallest = get_architecture(self.card.architecture).min_size
            if min(height, width) < smallest:
                raise FrameError(f"frame of {width}x{height} pixels is smaller than {self.card.architecture} "
                                 f"allows (at least {smallest} pixels each way)", Reject.BAD_SIZE)
            plan = ResizePlan.make(key, self.card.input_size, self.card.resize)
            self._plans[key] = plan
        return plan

    def preprocess(self, image: np.ndarray) -> Tuple[np.ndarray, ResizePlan]:
        """RGB frame -> 1 x H x W x 3 uint8 at the model's size (normalisation runs inside the graph)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise FrameError(f"frame of shape {image.shape} and type {image.dtype}: expected H x W x 3 uint8 RGB",
                             Reject.BAD_ARRAY)
        plan = self.plan(image.shape[0], image.shape[1])
        if plan.content == plan.frame == plan.model:
            return np.ascontiguousarray(image)[None], plan
        resized = cv2.resize(image, (plan.content[1], plan.content[0]), interpolation=cv2.INTER_LINEAR)
        if plan.content == plan.model:
            return resized[None], plan
        if self._canvas is None or self._canvas.shape[1:3] != plan.model:
            # padding in the mean colour normalises to zero, like the networks' own zero padding
            self._canvas = np.empty((1, plan.model[0], plan.model[1], 3), np.uint8)
            self._canvas[...] = np.round(np.asarray(self.card.mean) * 255).astype(np.uint8)[
                ::-1 if self.card.color_order == "bgr" else 1]
        self._canvas[0, : plan.content[0], : plan.content[1]] = resized
        return self._canvas, plan

    def postprocess(self, outputs: Dict[str, np.ndarray], plan: ResizePlan) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Backend outputs -> labels (and confidence) at the output resolution."""
        if self.backend.low_resolution:
            return self._sparse_postprocess(outputs, plan)
        ch, cw = plan.content
        to_input = self.output_resolution == "input" and plan.frame != plan.content
        height, width = plan.frame
        confidence = outputs.get("confidence")
        if confidence is not None:
            confidence = confidence[0, :ch, :cw]
            if to_input:
                confidence = cv2.resize(confidence, (width, height), interpolation=cv2.INTER_LINEAR)
        if self.upsampling == "bilinear" and to_input:
            logits = np.ascontiguousarray(outputs["logits"][0, :, :ch, :cw].transpose(1, 2, 0))
            logits = cv2.resize(logits, (width, height), interpolation=cv2.INTER_LINEAR)
            return logits.argmax(axis=2).astype(np.uint8), confidence
        labels = outputs["labels"][0, :ch, :cw]
        if labels.dtype != np.uint8:
            labels = labels.astype(np.uint8)
        if to_input:
            labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
        return np.ascontiguousarray(labels), confidence

    def _sparse_postprocess(self, outputs: Dict[str, np.ndarray],
                            plan: ResizePlan) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Low-resolution logits -> labels sampled at the output size, the padding cut away first.

        Straight at the frame's size where its pixels per low-resolution cell are few enough
        (``DIRECT_PIXELS_PER_CELL``: a 1024x2048 network for 1920x1080 frames); otherwise, e.g. a 288x512
        network for 1920x1080 frames, mixed cells are so large that sampling at the network's size and
        resizing by nearest neighbour costs a fraction.
        """
        logits = outputs[LOW_LOGITS][0]
        extent = tuple(content_extent(low, model, content)
                       for low, model, content in zip(logits.shape[1:], plan.model, plan.content))
        size = plan.frame if self.output_resolution == "input" else plan.content
        direct = size[0] * size[1] <= DIRECT_PIXELS_PER_CELL * logits.shape[1] * logits.shape[2]
        sample = size if direct else plan.content
        labels = sparse_labels(logits, sample, extent, outputs[LOW_LABELS][0] if LOW_LABELS in outputs else None)
        confidence = sparse_confidence(logits, sample, extent) if "confidence" in self.backend.outputs else None
        if sample != size:
            labels = cv2.resize(labels, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
            if confidence is not None:
                confidence = cv2.resize(confidence, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        return labels, confidence

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """Palette image, one table lookup per pixel.

        applyColorMap with a user table reads the one-channel labels directly: ~2 ms at 1920x1080 here,
        against ~8 ms for a 3-channel merge and cv2.LUT (same result).
        """
        return cv2.applyColorMap(labels, self._palette_lut)

    def blend(self, image: np.ndarray, color: np.ndarray, alpha: Optional[float] = None) -> np.ndarray:
        a = self.overlay_alpha if alpha is None else alpha
        if image.shape[:2] != color.shape[:2]:
            image = cv2.resize(image, (color.shape[1], color.shape[0]), interpolation=cv2.INTER_AREA)
        return cv2.addWeighted(image, 1.0 - a, color, a, 0.0)

    # -- the whole frame ---------------------------------------------------------------------------
    def process(self, image: np.ndarray, color: bool = True, overlay: bool = True) -> SegmentationResult:
        """Segment one H x W x 3 uint8 RGB frame."""
        t0 = time.perf_counter()
        batch, plan = self.preprocess(image)
        t1 = time.perf_counter()
        outputs = self.backend.run_graph(batch) if self.backend.low_resolution else self.backend.infer(batch)
        t2 = time.perf_counter()
        labels, confidence = self.postprocess(outputs, plan)
        color_image = self.colorize(labels) if (color or overlay) else None
        overlay_image = self.blend(image, color_image) if overlay else None
        t3 = time.perf_counter()
        timings = {Stage.PREPROCESS: (t1 - t0) * 1e3, Stage.INFER: (t2 - t1) * 1e3, Stage.POSTPROCESS: (t3 - t2) * 1e3}
        return SegmentationResult(labels, color_image if color else None, overlay_image, confidence, timings)

    def describe(self) -> str:
        return f"{self.card.name} on {self.backend.describe()}"

    def close(self) -> None:
        self.backend.close()

