"""Loading public checkpoint formats safely: plain state_dicts, training dicts, DataParallel prefixes.

Nothing is unpickled beyond tensors and plain numpy scalars (``weights_only=True``).
"""

import contextlib
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Union

import numpy as np
import torch
from torch import nn

from .errors import RailSegError

# Training dicts keep the weights under one of these keys, next to epoch/loss/optimizer state.
STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model")
_MAX_LISTED = 4


# numpy moved its internals from numpy.core to numpy._core in 2.0; a pickle names the module of the
# numpy that saved it, so checkpoints saved with numpy 1.x (most public training dicts) reference the old path.
_SCALAR_PATHS = ("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar")


def _numpy_scalar_reconstructor() -> Any:
    """numpy's scalar reconstructor from whichever module this numpy has it in."""
    for module_name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return __import__(module_name, fromlist=["scalar"]).scalar
        except (ImportError, AttributeError):
            continue
    return None


def _torch_takes_named_globals() -> bool:
    """torch >= 2.6 takes ``(object, "module.name")`` pairs in its safe globals."""
    found = re.match(r"(\d+)\.(\d+)", torch.__version__)
    return found is not None and (int(found.group(1)), int(found.group(2))) >= (2, 6)


def _numpy_globals() -> List[Any]:
    """The numpy globals a checkpoint with numpy scalar metadata (epoch, loss, acc) needs: nothing callable.

    The scalar reconstructor is allowed under both module paths, ``(object, "module.name")`` pairs, so a
    checkpoint saved with numpy 1.x loads under numpy 2 and the other way round.
    """
    allowed: List[Any] = [np.dtype]
    scalar = _numpy_scalar_reconstructor()
    if scalar is not None and _torch_takes_named_globals():
        allowed += [(scalar, path) for path in _SCALAR_PATHS]
    elif scalar is not None:
        allowed.append(scalar)  # older torch: only this numpy's own path
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25 pickles dtypes by class
    if dtypes is not None:
        for name in ("Float16DType", "Float32DType", "Float64DType", "Int8DType", "Int16DType", "Int32DType",
                     "Int64DType", "UInt8DType", "UInt16DType", "UInt32DType", "UInt64DType", "BoolDType"):
            if hasattr(dtypes, name):
                allowed.append(getattr(dtypes, name))
    return allowed


@contextlib.contextmanager
def _allow_numpy_scalars() -> Iterator[None]:
    safe_globals = getattr(torch.serialization, "safe_globals", None)
    if safe_globals is not None:  # torch >= 2.5
        with safe_globals(_numpy_globals()):
            yield
        return
    add = getattr(torch.serialization, "add_safe_globals", None)  # torch 2.4
    if add is not None:
        add(_numpy_globals())
    yield


def read_checkpoint(path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """The model weights in the checkpoint at ``path``, as a plain state_dict without ``module.`` prefixes."""
    path = Path(path)
    if path.is_dir():
        raise RailSegError(f"checkpoint {path}: is a folder, not a checkpoint file")
    if not path.is_file():
        raise RailSegError(f"checkpoint {path}: no such file")
    try:
        with _allow_numpy_scalars():
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt files fail in many ways: zip, pickle, EOF, runtime errors
        text = str(exc)
        if "Unsupported global" in text:
            raise RailSegError(f"checkpoint {path}: refused to unpickle objects other than tensors and numpy "
                               f"scalars ({_unsupported_global(text)})") from None
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        raise RailSegError(f"checkpoint {path}: not a readable PyTorch checkpoint "
                           f"({type(exc).__name__}: {first_line})") from None
    return _extract_state_dict(obj, path)


def _unsupported_global(message: str) -> str:
    found = re.search(r"Unsupported global: GLOBAL (\S+)", message)
    return f"it holds {found.group(1)}" if found else "it holds other objects"


def _extract_state_dict(obj: Any, path: Path) -> Dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise RailSegError(f"checkpoint {path}: holds no state_dict (expected tensors by name, or a training "
                           f"dict with one of {', '.join(STATE_DICT_KEYS)})")
    prefix = "module."
    if all(k.startswith(prefix) for k in obj):
        obj = {k[len(prefix):]: v for k, v in obj.items()}
    return dict(obj)


def _listed(keys: List[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _MAX_LISTED else "")


def load_weights(model: nn.Module, path: Union[str, Path], strict: bool = True) -> nn.Module:
    """Load the checkpoint at ``path`` into ``model``; fp16 checkpoints are cast to the model's dtype.

    Strict by default: any missing, unexpected or mis-shaped key is reported in one error.
    """
    state = read_checkpoint(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshaped = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in own
                 if k in state and state[k].shape != own[k].shape]
    problems = []
    if misshaped:
        problems.append(f"mis-shaped: {_listed(misshaped)}")
    if strict and missing:
        problems.append(f"missing: {_listed(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected: {_listed(unexpected)}")
    if problems:
        name = getattr(model, "arch_name", type(model).__name__)
        raise RailSegError(f"checkpoint {path} does not fit {name}: " + "; ".join(problems))
    not_finite = [k for k in own if k in state and state[k].is_floating_point() and not bool(state[k].isfinite().all())]
    if not_finite:  # a diverged training run: every frame would come out as one class
        raise RailSegError(f"checkpoint {path}: NaN or infinite values in {_listed(not_finite)}")
    converted = {k: v.to(own[k].dtype) if v.is_floating_point() else v for k, v in state.items() if k in own}
    model.load_state_dict(converted, strict=strict)
    return model
