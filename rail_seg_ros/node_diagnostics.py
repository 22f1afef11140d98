"""The node's /diagnostics: its health, the status values keyed as contract.DIAGNOSTICS lists them, and the
no-input hint. A mixin of SegmentationNode (node.py), which owns the state it reads."""

import time
from typing import List, Tuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from .contract import NODE_STAGES, Diag, rejected_key, stage_key, status_name
from .node_state import RATE_WINDOW_S


class DiagnosticsMixin:
    """Publishes one DiagnosticStatus a second from the node's counters, stage times and state."""

    def _publish_diagnostics(self) -> None:
        publisher = self._diagnostics_pub
        if publisher is None:
            return
        now = time.monotonic()
        stats = self._stats
        with stats.lock:
            means = stats.stages.means()
            stats.stages.reset()
            if means:
                stats.last_stages = means
        level, message = self._health(now)
        status = DiagnosticStatus(level=level, message=message,
                                  name=status_name(self._qualified_name()),
                                  hardware_id=self._model_name())
        status.values = [KeyValue(key=key, value=value) for key, value in self._diagnostic_values(now)]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        publisher.publish(array)

    def _qualified_name(self) -> str:
        """'front/NODE' in namespace /front, 'NODE' at the root (NODE: the node's name)."""
        return f"{self.get_namespace().rstrip('/')}/{self.get_name()}".lstrip("/")

    def _model_name(self) -> str:
        return self._segmenter.card.name if self._segmenter is not None else str(self._params["model"])

    def _health(self, now: float) -> Tuple[bytes, str]:
        stats, p = self._stats, self._params
        self._hint = ""
        if stats.backend_error:
            return DiagnosticStatus.ERROR, f"backend failed: {stats.backend_error}"
        if not self._active:
            return DiagnosticStatus.OK, self._state_label
        silent_s = now - (stats.last_input if stats.last_input is not None else self._activated_at)
        if silent_s > p["input_timeout"]:
            hint = self._hint = self._no_input_hint(silent_s, now)
            lost = f" ({stats.lost} frame(s) reported lost)" if stats.lost else ""
            return DiagnosticStatus.WARN, hint or f"no input on {self._input_topic} for {silent_s:.1f} s{lost}"
        output_rate = stats.output_rate.rate(now)
        if p["min_rate"] > 0 and now - self._activated_at > RATE_WINDOW_S and output_rate < p["min_rate"]:
            return DiagnosticStatus.WARN, f"output rate {output_rate:.1f} Hz is below min_rate {p['min_rate']:g} Hz"
        return DiagnosticStatus.OK, f"segmenting at {output_rate:.1f} Hz"

    def _diagnostic_values(self, now: float) -> List[Tuple[str, str]]:
        """The status values, keyed and ordered as contract.DIAGNOSTICS lists them."""
        stats, segmenter = self._stats, self._segmenter
        with stats.lock:
            counters = [(Diag.RECEIVED, stats.received), (Diag.PUBLISHED, stats.published),
                        (Diag.DROPPED, stats.dropped), (Diag.LOST, stats.lost),
                        (Diag.REJECTED, sum(stats.rejected.values()))]
            counters += [(rejected_key(reason), n) for reason, n in sorted(stats.rejected.items())]
            stages = dict(stats.last_stages)
            sizes = [(Diag.INPUT_SIZE, stats.input_size), (Diag.OUTPUT_SIZE, stats.output_size)]
            error = stats.backend_error or self._last_error
        values = [(Diag.STATE, self._state_label), (Diag.MODEL, self._model_name())]
        if segmenter is not None:
            values += [(Diag.ARCHITECTURE, segmenter.card.architecture), (Diag.LABEL_SET, segmenter.card.label_set),
                       (Diag.BACKEND, segmenter.backend.name), (Diag.PRECISION, segmenter.backend.precision),
                       (Diag.DEVICE, segmenter.backend.device)]
        values += [(Diag.INPUT_TOPIC, self._input_topic), (Diag.INPUT_TRANSPORT, self._params["input_transport"]),
                   (Diag.INPUT_RATE, f"{stats.input_rate.rate(now):.2f}"),
                   (Diag.OUTPUT_RATE, f"{stats.output_rate.rate(now):.2f}")]
        values += [(key, str(n)) for key, n in counters]
        values += [(Diag.LATENCY_P50, f"{stats.latency_ms.percentile(50):.1f}"),
                   (Diag.LATENCY_P95, f"{stats.latency_ms.percentile(95):.1f}")]
        values += [(stage_key(stage), f"{stages.get(stage, float('nan')):.2f}") for stage in NODE_STAGES]
        values += [(key, f"{size[1]}x{size[0]}" if size else "") for key, size in sizes]
        values.append((Diag.LAST_ERROR, error or ""))
        values.append((Diag.TRACK_AHEAD, self._track_state or "off: not configured"))
        values += [(Diag.INPUT_PUBLISHERS, str(self.count_publishers(self._input_topic) if self._active else 0)),
                   (Diag.DDS_PROFILE, self._dds_profile.note), (Diag.HINT, self._hint)]
        return values

    def _no_input_hint(self, silent_s: float, now: float) -> str:
        """The likely cause when the input has publishers but no frame came; logged once per activation."""
        p = self._params
        hint = self._watch.hint(self, self._input_topic, silent_s, p["input_timeout"], p["input_qos.reliability"],
                                self._stats.lost, self._dds_profile, now)
        if self._watch.log_once(hint):
            self._warn(hint)
        return hint

