"""A writer of snapshots in the official CREPS pickle format, for tests.

It reproduces the structure the official ``torch_utils.persistence`` writes
(the official torch_utils.persistence format): persistent networks as ``_reconstruct_persistent_obj(meta)``
with ``module_src`` text and the module ``__dict__`` as state, ``SynthesisInput`` and
``torch.nn.Sequential`` by plain class reference, tensors through torch's own
reducers, EasyDict kwargs and numpy scalars.  The official modules are not
importable here, so the globals are spelled through stand-in modules that exist
only while writing.
"""

from __future__ import annotations

import collections
import pickle
import sys
import types
from contextlib import contextmanager

import numpy as np
import torch

MODULE_SRC = "# stand-in for training/networks_creps.py (never executed by the loader)\n"


def _reconstruct_persistent_obj(meta):  # pragma: no cover - only its name is pickled
    raise AssertionError("never called")


class EasyDict(dict):
    pass


class SynthesisInput:
    pass


@contextmanager
def _stand_in_modules():
    mods = {
        "torch_utils": types.ModuleType("torch_utils"),
        "torch_utils.persistence": types.ModuleType("torch_utils.persistence"),
        "dnnlib": types.ModuleType("dnnlib"),
        "dnnlib.util": types.ModuleType("dnnlib.util"),
        "training": types.ModuleType("training"),
        "training.networks_creps": types.ModuleType("training.networks_creps"),
    }
    for obj, mod in ((_reconstruct_persistent_obj, "torch_utils.persistence"), (EasyDict, "dnnlib.util"),
                     (SynthesisInput, "training.networks_creps")):
        obj.__module__ = mod
        setattr(mods[mod], obj.__name__, obj)
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class Persistent:
    """Pickles as the official persistence call."""

    def __init__(self, class_name: str, state: dict, module_src: str = MODULE_SRC):
        self.meta = dict(type="class", version=6, module_src=module_src, class_name=class_name, state=state)

    def __reduce__(self):
        return _reconstruct_persistent_obj, (self.meta,)


def PlainModule(cls, state: dict):
    """An instance that pickles as a plain class reference + state (NEWOBJ + BUILD),
    like SynthesisInput or torch.nn.Sequential in official snapshots."""
    obj = object.__new__(cls)
    obj.__dict__.update(state)
    return obj


def _module_state(params, buffers, children, extra=None) -> dict:
    state = {
        "training": False,
        "_parameters": collections.OrderedDict(params),
        "_buffers": collections.OrderedDict(buffers),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": collections.OrderedDict(),
        "_forward_hooks": collections.OrderedDict(),
        "_forward_pre_hooks": collections.OrderedDict(),
        "_state_dict_hooks": collections.OrderedDict(),
        "_load_state_dict_pre_hooks": collections.OrderedDict(),
        "_modules": collections.OrderedDict(children),
    }
    state.update(extra or {})
    return state


def _tree(state_dict: dict[str, torch.Tensor]) -> dict:
    root: dict = {}
    for name, t in state_dict.items():
        node = root
        *path, leaf = name.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[leaf] = t
    return root


def _build(node: dict, path: str, class_name: str | None, module_src: str):
    params, buffers, children = {}, {}, {}
    for key, value in node.items():
        if isinstance(value, dict):
            child_path = f"{path}.{key}" if path else key
            children[key] = _build(value, child_path, None, module_src)
        elif key in ("freqs", "coords", "w_avg"):
            buffers[key] = value.clone()
        else:
            params[key] = torch.nn.Parameter(value.clone(), requires_grad=False)
    leaf = path.rsplit(".", 1)[-1]
    extra = {}
    if "weight" in params and params["weight"].ndim == 2 and not children:
        extra["weight_gain"] = np.float64(1.0 / np.sqrt(params["weight"].shape[1]))
    if leaf == "input":
        return PlainModule(SynthesisInput, _module_state(params, buffers, children, {"rank": 8}))
    if leaf.startswith("decoder_") and leaf != "decoder_img":
        return PlainModule(torch.nn.Sequential, _module_state(params, buffers, children))
    name = class_name or ("SynthesisBlock" if leaf.startswith(("b", "block")) else "FullyConnectedLayer")
    extra.update({"_init_args": (), "_init_kwargs": EasyDict()})
    return Persistent(name, _module_state(params, buffers, children, extra), module_src)


def generator_record(state_dict: dict[str, torch.Tensor], init_kwargs: dict, module_src: str = MODULE_SRC):
    rec = _build(_tree(state_dict), "", "Generator", module_src)
    rec.meta["state"]["_init_kwargs"] = EasyDict(init_kwargs)
    return rec


def official_snapshot(g_ema_state, init_kwargs, g_state=None, module_src: str = MODULE_SRC) -> dict:
    disc = Persistent("Discriminator", _module_state({"b4.fc.weight": torch.nn.Parameter(torch.randn(4, 4))}, {}, {},
                                                     {"_init_args": (), "_init_kwargs": EasyDict(c_dim=0)}), module_src)
    augment_state = _module_state({}, {"p": torch.zeros([])}, {}, {"_init_args": (), "_init_kwargs": EasyDict(xflip=1)})
    augment = Persistent("AugmentPipe", augment_state, module_src)
    return {
        "G": generator_record(g_state if g_state is not None else g_ema_state, init_kwargs, module_src),
        "D": disc,
        "G_ema": generator_record(g_ema_state, init_kwargs, module_src),
        "augment_pipe": augment,
        "training_set_kwargs": EasyDict(class_name="training.dataset.ImageFolderDataset", path="data.zip",
                                        use_labels=False, max_size=None, xflip=False, resolution=64),
    }


def write_official_pickle(path, g_ema_state, init_kwargs, g_state=None, protocol: int = 4) -> None:
    with _stand_in_modules():
        data = official_snapshot(g_ema_state, init_kwargs, g_state)
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=protocol)
