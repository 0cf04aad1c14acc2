"""FSDP2 (``torch.distributed.fsdp.fully_shard``): parameters, gradients and optimizer state split over processes.

Under ``training.parallel=fsdp`` each process keeps 1/N of every parameter, its gradient and AdamW's two
moments; a block's full weights exist only while it computes (all-gathered before, freed after), and
gradients are reduce-scattered. Every ``nn.ModuleList`` entry (transformer layers, decoder layers) is
sharded as its own unit, then the root holds the rest (embeddings, heads, a BiLSTM's single LSTM), so tied
weights (the MLM decoder reads the word embeddings) stay in one unit.

Checkpoints during the run are sharded: ``save_shards`` has every process write its own shards of the
weights and AdamW's moments with torch.distributed.checkpoint into safetensors files (its Hugging Face
storage writer: the layout is in the files' JSON headers, so loading unpickles nothing), and
``load_shards`` reads them back at any process count, sharded or not (DCP reshards on load). The folders
that end a run (``model/``, fine-tuning's ``best/``) are whole: ``full_weights`` gathers the model to rank 0,
so export, serve and transformers read one plain ``model.safetensors``. Both are collectives: every
process calls them. ``optimizer_state`` keys AdamW's state by parameter name for the unsharded case.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from warmstart.errors import InputError

_OPTIONS: dict[str, Any] = {}


def _state_api():
    from torch.distributed.checkpoint import state_dict as api

    return api


def is_sharded(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def blocks(model: nn.Module) -> list[nn.Module]:
    """The units sharded on their own: every entry of every ``nn.ModuleList``, outermost first."""
    found: list[nn.Module] = []
    for module in model.modules():
        if isinstance(module, nn.ModuleList):
            found.extend(child for child in module if not any(child is f for f in found))
    return found


def shard(model: nn.Module, device: torch.device, world_size: int, precision: str = "fp32") -> dict[int, nn.Parameter]:
    """Shard ``model`` in place over ``world_size`` processes; -> old parameter id -> its sharded parameter,
    for optimizer groups built before sharding.

    Under bf16/fp16 the blocks compute with weights gathered in that dtype (half the all-gather traffic) and
    reduce gradients in fp32; the sharded weights the optimizer updates stay fp32."""
    import torch.distributed.checkpoint as dcp
    import torch.distributed.fsdp as fsdp
    from torch.distributed.device_mesh import init_device_mesh

    if not (hasattr(fsdp, "fully_shard") and hasattr(dcp, "HuggingFaceStorageWriter")):
        raise InputError(f"training.parallel=fsdp needs torch's FSDP2 and DCP's safetensors writer (torch 2.13 is "
                         f"tested; this is {torch.__version__}); upgrade torch or use training.parallel=ddp")
    fully_shard, MixedPrecisionPolicy = fsdp.fully_shard, fsdp.MixedPrecisionPolicy

    names = {id(p): name for name, p in model.named_parameters()}
    # NOTE: an explicit mesh of this device type: without one, a machine with GPUs puts the shards on CUDA
    # even under a CPU (gloo) process group (pytorch issue 132471).
    mesh = init_device_mesh(device.type, (world_size,))
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    policy = MixedPrecisionPolicy(param_dtype=low, reduce_dtype=torch.float32) if low else MixedPrecisionPolicy()
    for block in blocks(model):
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    sharded = dict(model.named_parameters())
    return {old: sharded[name] for old, name in names.items()}


def _aliases(model: nn.Module) -> dict[str, str]:
    """Tied weights: every state-dict name that is a second name of a tensor listed earlier -> that first name,
    in state-dict order.

    NOTE: ordered, never a set: the order in which tensors are loaded is the order of the collectives, and a
    set of strings iterates in a different order in each process (hash randomisation)."""
    first: dict[int, str] = {}
    out = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in first:
            out[name] = first[id(tensor)]
        else:
            first[id(tensor)] = name
    return out


def full_weights(model: nn.Module) -> dict[str, torch.Tensor] | None:
    """Collective: the whole model's weights on CPU at rank 0 (tied weights once), {} elsewhere; None for an
    unsharded model (read its own ``state_dict``)."""
    if not is_sharded(model):
        return None
    api = _state_api()
    full = api.get_model_state_dict(model, options=api.StateDictOptions(full_state_dict=True, cpu_offload=True))
    aliases = _aliases(model)
    return {name: tensor for name, tensor in full.items() if name not in aliases}


def load_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Whole-model weights (a checkpoint's ``model.safetensors``) into a sharded or unsharded model."""
    if not is_sharded(model):
        model.load_state_dict(state)
        return
    api = _state_api()
    api.set_model_state_dict(model, _with_aliases(model, state), options=api.StateDictOptions(full_state_dict=True))


def _with_aliases(model: nn.Module, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``weights`` with every tied tensor also under its second name: a checkpoint names it once, FSDP's
    loader wants every name."""
    full = dict(weights)
    for alias, source in _aliases(model).items():
        full.setdefault(alias, full[source])
    return full


def _parameter_order(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """The names of the optimizer's parameters in the order its plain state dict numbers them."""
    names = {id(p): name for name, p in model.named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Collective under FSDP: AdamW's whole state keyed by parameter name (``state``: name -> tensors;
    ``param_groups``: hyperparameters with parameter names), the same format sharded or not."""
    if is_sharded(model):
        api = _state_api()
        return api.get_optimizer_state_dict(model, optimizer,
                                            options=api.StateDictOptions(full_state_dict=True, cpu_offload=True))
    plain, order = optimizer.state_dict(), _parameter_order(model, optimizer)
    return {
        "state": {order[i]: state for i, state in plain["state"].items()},
        "param_groups": [{**group, "params": [order[i] for i in group["params"]]} for group in plain["param_groups"]],
    }


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """A state from ``optimizer_state`` (any process count), or an older checkpoint's index-keyed one."""
    groups = state["param_groups"]
    by_name = bool(groups) and bool(groups[0]["params"]) and isinstance(groups[0]["params"][0], str)
    if is_sharded(model):
        api = _state_api()
        # strict=False: a parameter that never received a gradient (an unused pooler) has no AdamW state
        api.set_optimizer_state_dict(model, optimizer, state,
                                     options=api.StateDictOptions(full_state_dict=True, strict=False))
        return
    if not by_name:
        optimizer.load_state_dict(state)
        return
    index = {name: i for i, name in enumerate(_parameter_order(model, optimizer))}
    optimizer.load_state_dict({
        "state": {index[name]: s for name, s in state["state"].items()},
        "param_groups": [{**group, "params": [index[n] for n in group["params"]]} for group in groups],
    })


def state_mb(model: nn.Module, optimizer: torch.optim.Optimizer) -> float:
    """MiB this process holds of the parameters, their gradients and the optimizer's state: its shards under
    FSDP, everything otherwise. Exact, unlike a peak, and what sharding divides by the process count."""

    def nbytes(t: torch.Tensor) -> int:
        local = t.to_local() if hasattr(t, "to_local") else t  # a DTensor's own shard
        return local.numel() * local.element_size()

    total = sum(nbytes(p) + (nbytes(p.grad) if p.grad is not None else 0) for p in model.parameters())
    total += sum(nbytes(v) for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v))
    return total / 2**20


def _tensor_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """(every tensor to write or read: model.<name> and optimizer.<name>.<moment>, the optimizer's state dict)."""
    api = _state_api()
    weights, aliases = api.get_model_state_dict(model), _aliases(model)
    tensors = {f"model.{name}": t for name, t in weights.items() if name not in aliases}
    optim = api.get_optimizer_state_dict(model, optimizer)  # sharded like the model; initialised when fresh
    tensors.update({f"optimizer.{name}.{key}": value for name, state in optim["state"].items()
                    for key, value in state.items() if torch.is_tensor(value)})
    return tensors, optim


def save_shards(model: nn.Module, optimizer: torch.optim.Optimizer, folder) -> list[dict[str, Any]]:
    """Collective: each process writes its shards of the weights and AdamW state into ``folder``;
    -> the optimizer's parameter groups (hyperparameters, parameter names) for the checkpoint's JSON."""
    import torch.distributed.checkpoint as dcp

    tensors, optim = _tensor_state(model, optimizer)
    dcp.save(tensors, storage_writer=dcp.HuggingFaceStorageWriter(str(folder), save_distributed=True))
    return optim["param_groups"]


def load_shards(model: nn.Module, optimizer: torch.optim.Optimizer, folder, param_groups: list[dict]) -> None:
    """Collective when sharded: weights and AdamW state from ``save_shards`` at any process count."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner

    api = _state_api()
    tensors, optim = _tensor_state(model, optimizer)
    # partial: a parameter that never had a gradient (an unused pooler) has no AdamW state in the files
    with warnings.catch_warnings():  # one process without a process group: DCP says it assumes so, rightly
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(tensors, storage_reader=dcp.HuggingFaceStorageReader(str(folder)),
                 planner=DefaultLoadPlanner(allow_partial_load=True))
    weights = {name[len("model."):]: t for name, t in tensors.items() if name.startswith("model.")}
    api.set_model_state_dict(model, _with_aliases(model, weights))
    for name, state in optim["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                state[key] = tensors[f"optimizer.{name}.{key}"]
    api.set_optimizer_state_dict(model, optimizer, {"state": optim["state"], "param_groups": param_groups})


def peak_memory_mb(device: torch.device) -> float:
    """This process's peak memory so far: CUDA's allocated peak on a GPU, the resident set (RSS) on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
