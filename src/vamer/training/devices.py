"""Where training runs: one typed object, :class:`TrainerOptions`, carries the device settings of a
command (``--accelerator --devices --strategy --num-nodes --precision --workers``) to every stage.
It makes the Lightning Trainer's arguments, the data loaders' arguments and what a report says
about the hardware.

>>> options = TrainerOptions(devices=2, strategy="ddp", workers=4)
>>> options.trainer_args()["strategy"], TrainerOptions(accelerator="cpu").loader_args()
('ddp', {'num_workers': 0, 'pin_memory': False})
"""

from __future__ import annotations

import dataclasses
import os

import torch


@dataclasses.dataclass(frozen=True)
class TrainerOptions:
    """The devices a training runs on: Lightning's ``accelerator``, ``devices`` (a count, ``auto``
    or GPU ids such as ``"0,1"``), ``strategy`` (``ddp`` across processes or nodes included),
    ``num_nodes`` and ``precision`` (``None``: 32-bit), and the data loaders' ``workers`` (``None``:
    none on a CPU, up to 4 beside a GPU).  The default is what every stage runs on unless told
    otherwise: a GPU when there is one, else the CPU."""

    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str | None = None
    workers: int | None = None
    # A debug profile (tests that check wiring, not learning): at most this many epochs a stage and
    # batches an epoch (None: the stage's own), and TensorBoard logs or not (CSV logs are always kept).
    max_epochs: int | None = None
    max_batches: int | None = None
    tensorboard: bool = True

    @classmethod
    def debug(cls) -> "TrainerOptions":
        """One epoch of two batches a stage on the CPU, no TensorBoard: the wiring, in seconds.

        >>> TrainerOptions.debug().max_batches
        2
        """
        return cls(accelerator="cpu", max_epochs=1, max_batches=2, tensorboard=False)

    @classmethod
    def parse(cls, devices: str = "1", **options) -> "TrainerOptions":
        """From command-line strings: ``devices`` becomes a count when it is one."""
        return cls(devices=int(devices) if str(devices).isdigit() else devices, **options)

    def trainer_args(self) -> dict:
        """The Lightning Trainer's arguments (precision only when one is asked for)."""
        args = {
            "accelerator": self.accelerator,
            "devices": self.devices,
            "strategy": self.strategy,
            "num_nodes": self.num_nodes,
        }
        if self.precision is not None:
            args["precision"] = self.precision
        return args

    def device(self) -> str:
        """cuda, mps or cpu: what ``accelerator`` means on this machine."""
        if self.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
            return "cuda"
        if self.accelerator in ("auto", "mps") and torch.backends.mps.is_available():
            return "mps"
        return "cpu"

    def loader_args(self) -> dict:
        """DataLoader arguments: worker processes (none on a CPU, where they would only compete with
        the model for the cores) and pinned memory on CUDA."""
        device = self.device()
        workers = self.workers
        if workers is None:
            workers = 0 if device == "cpu" else min(4, os.cpu_count() or 1)
        return {"num_workers": int(workers), "pin_memory": device == "cuda"}

    def describe(self) -> dict:
        """What a run asked for and what it ran on, for metrics.json and the report."""
        asked = self.trainer_args()
        ran_on = {
            "cuda": lambda: f"cuda ({torch.cuda.get_device_name(0)})",
            "mps": lambda: "mps",
            "cpu": lambda: f"cpu ({torch.get_num_threads()} threads)",
        }[self.device()]()
        world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        return {
            "requested": {key: str(value) for key, value in asked.items()},
            "ran_on": ran_on,
            "processes": world,
            "precision": str(self.precision or "32-true"),
            "data_loader": self.loader_args(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
        }

    def as_strings(self) -> dict[str, str]:
        """Every option as a string, in name order: what a run's resume signature records."""
        return {key: str(value) for key, value in sorted(dataclasses.asdict(self).items())}
