"""Image sizes as users write them (``HxW``, or a [H, W] list in YAML): the one parser every command,
model card and training config uses. No heavy imports, so light commands start fast."""

from typing import List, Optional, Sequence, Tuple, Union

from .errors import RailSegError

SizeValue = Union[str, Sequence[int]]


def parse_size(value: SizeValue, *, minimum: int = 1, option: Optional[str] = None) -> Tuple[int, int]:
    """``"HxW"`` (or a pair of integers) -> (H, W), each at least ``minimum``.

    ``option`` names the value in errors (``"--size"``, ``"model card x: input_size"``); default ``"size"``.
    """
    shown = repr(value) if isinstance(value, str) else repr(list(value) if isinstance(value, tuple) else value)
    where = f"{option or 'size'} {shown}"
    try:
        height, width = _integers(value)
    except (TypeError, ValueError):
        raise RailSegError(f"{where} is not HxW (for example 1024x2048)") from None
    if height <= 0 or width <= 0:
        raise RailSegError(f"{where}: height and width must be positive")
    if min(height, width) < minimum:
        raise RailSegError(f"{where}: height and width must be at least {minimum} px")
    return height, width


def _integers(value: SizeValue) -> List[int]:
    """The values of ``"HxW"`` or ``[H, W]`` as integers; 288.5, True and "2e2" are refused (ValueError)."""
    if isinstance(value, str):
        parts: Sequence[object] = value.lower().split("x")
    elif isinstance(value, (list, tuple)):
        parts = value
    else:
        raise TypeError(value)
    numbers = []
    for part in parts:
        if isinstance(part, (bool, float)) or (isinstance(part, str) and not part.strip().lstrip("-").isdigit()):
            raise ValueError(part)
        numbers.append(int(part))  # type: ignore[call-overload]
    if len(numbers) != 2:
        raise ValueError(value)
    return numbers
