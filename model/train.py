"""One readable training loop for the context encoder (nanoGPT-style): a dataclass config, a checkpoint dict
with model, optimisers, step and config, and DDP switched on from torchrun's environment (rank 0 alone writes).

Data and mask draws are a pure function of (seed, rank, step), so `--resume` continues exactly where a run
stopped without storing generator states.
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image

from . import checkpoint as ckpt
from .batches import DeviceCrops, hole_masks
from .data import find_photos, load_photos, split_photos
from .objects import paste_objects
from .devices import describe, resolve_device
from .errors import InpaintError
from .imageio import atomic_write
from .losses import (
    adversarial_losses, feature_matching, generator_adversarial, local_adversarial_losses, local_generator_adversarial,
    reconstruction_loss, texture_strength_loss,
)
from .networks import (
    DEFAULT_SIZES, Discriminator, GeneratorConfig, PatchDiscriminator, build_generator, count_parameters, generator_input,
)

# Arguments that a resumed run takes from the command line; every other one comes from the checkpoint.
RESUMABLE = ("steps", "minutes", "json", "device", "resume", "checkpoint_every", "val_every")
DRY_RUN_STEPS, DRY_RUN_MINUTES = 20, 1.0
# Fine-tuning a trained model (--init), as measured in MODEL_CARD.md on 12 photos to fine-tune and 7 to score:
# re-estimated BatchNorm statistics cost most, frozen ones at lr 1e-4 least, and the adversarial loss (its critic
# starts untrained from a model file) only hurt. The CLI and the wizard both start from this.
FINE_TUNE_RECIPE = {"lr": 1e-4, "freeze_norm": True, "adv_weight": 0.0}
# A timed run (--minutes) measures its speed over MEASURE_STEPS steps after its first (which warms up), then fits its
# schedule to the time left, and again at each REPLANS-th of it: the learning rate decays fully as the time runs out.
# A plan keeps PLAN_MARGIN of the time left and SPARE_STEPS steps in hand, so a slower stretch shortens it by a few
# steps while some remain (the rate still reaches its floor), rather than the clock cutting the schedule off.
MEASURE_STEPS, REPLANS, PLAN_MARGIN, SPARE_STEPS = 4, 10, 0.02, 2
# Crops a preview shows: one row each, at the model's size (4 rows of 128 px fit a screen at 100%).
PREVIEW_CROPS = 4
# A fine-tune's gain is clear when it exceeds CLEAR_GAIN_SE standard errors of its per-crop differences and
# CLEAR_GAIN_DB (a smaller one rounds to +0.00 dB, and a model made the default would change nothing visible).
CLEAR_GAIN_SE, CLEAR_GAIN_DB = 2.0, 0.01


@dataclass
class TrainConfig:
    data: str = ""
    objects: str = ""  # a folder of RGBA cut-outs pasted onto copies of the training photos (objects.py)
    out: str = "runs/default"
    init: str | None = None
    arch: str = "inpaint"
    mask_strategy: str = "mixed"
    steps: int = 2000
    minutes: float = 0.0
    batch_size: int = 32
    lr: float = 5e-4
    adv_weight: float = 0.001
    local_adv_weight: float = 0.0
    fm_weight: float = 0.0
    texture_weight: float = 0.0
    adv_warmup: int = 0
    warmup: int = 0
    ema: float = 0.0
    freeze_norm: bool = False
    device: str = "auto"
    val_fraction: float = 0.1
    seed: int = 0
    upconv: str = "upsample"
    widths: list[int] = field(default_factory=lambda: [48, 96, 192, 256])
    decoder_widths: list[int] = field(default_factory=lambda: [128, 64, 32])
    max_short_side: int = 1024
    max_zoom_out: float = 4.0
    checkpoint_every: int = 100
    val_every: int = 250
    log_every: int = 10
    val_crops: int = 48
    dry_run: bool = False
    json: bool = False
    resume: bool = False

    def apply_dry_run(self) -> None:
        """Seconds-long smoke mode: tiny crops, a tiny net, at most 20 steps, or with --minutes at most one minute
        (the clock then bounds the run, so --minutes can be tried on a dry run)."""
        if self.minutes > 0:
            self.minutes = min(self.minutes, DRY_RUN_MINUTES)
        else:
            self.steps = min(self.steps, DRY_RUN_STEPS)
        self.batch_size = min(self.batch_size, 4)
        self.widths, self.decoder_widths = [8, 16, 16, 16], [16, 16, 8]
        self.max_short_side, self.val_crops = 64, 4
        self.checkpoint_every, self.val_every, self.log_every = 2, 2, 1

    def generator_config(self) -> GeneratorConfig:
        size = 32 if self.dry_run and self.arch == "inpaint" else DEFAULT_SIZES[self.arch]
        return GeneratorConfig(
            arch=self.arch, image_size=size, widths=list(self.widths), decoder_widths=list(self.decoder_widths), upconv=self.upconv
        )


def make_config(**options) -> TrainConfig:
    """The run's config from the options a user gave: a run started from a model (`init`) takes the
    fine-tuning recipe for each of its settings the user left out, a run from scratch the dataclass defaults."""
    if options.get("init") and not options.get("resume"):
        options = {**FINE_TUNE_RECIPE, **options}
    return TrainConfig(**options)


class Reporter:
    """Progress for people (one line, rewritten) or, with --json, one JSON object per line for the GUI/scripts.
    Rank 0 also appends every event to RUN_DIR/log.jsonl."""

    def __init__(self, as_json: bool, log_path: Path | None):
        self.as_json, self.log_path = as_json, log_path

    def __call__(self, event: str, **fields) -> None:
        record = {"event": event, **fields}
        if self.log_path:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if self.as_json:
            print(json.dumps(record), flush=True)
        elif event == "step":
            eta = time.strftime("%H:%M:%S", time.gmtime(fields["eta_s"]))
            print(
                f"\rstep {fields['step']}/{fields['steps']}  rec {fields['loss_rec']:.4f}  adv {fields['loss_adv']:.3f}"
                f"  D {fields['loss_d']:.3f}  {fields['images_per_s']:.1f} img/s  left {eta}",
                end="", flush=True,
            )
        else:
            print(("\n" if event in ("val", "checkpoint") else "") + f"{event}: " + ", ".join(f"{k}={v}" for k, v in fields.items()), flush=True)


def _distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size) under torchrun, else (0, 1). The backend follows the device the run uses: NCCL only
    moves CUDA tensors, so `--device cpu` on a machine with a GPU needs Gloo."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _psnr_per_crop(pred: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Each image's PSNR on its hole pixels, values in [0,1]."""
    err = ((pred - truth) ** 2 * masks).sum(dim=(1, 2, 3)) / (masks.sum(dim=(1, 2, 3)) * 3).clamp_min(1)
    return 10 * torch.log10(1 / err.clamp_min(1e-10))


def _psnr_on_hole(pred: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor) -> float:
    """Mean over images of PSNR on hole pixels, values in [0,1]."""
    return float(_psnr_per_crop(pred, truth, masks).mean())


def _gain(before: torch.Tensor, after: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor,
          photos: np.ndarray) -> tuple[float, float]:
    """(mean gain in dB, its standard error) from the per-crop differences on the same crops and holes, so the
    crops' own difficulty cancels. Crops of one photo are alike, not independent draws: the error is also taken from
    the photos' mean differences (`photos`: each crop's photo), and the larger of the two is kept (needs >= 2
    crops)."""
    diff = (_psnr_per_crop(after, truth, masks) - _psnr_per_crop(before, truth, masks)).double().cpu().numpy()
    se = float(diff.std(ddof=1) / math.sqrt(len(diff)))
    per_photo = [diff[photos == p].mean() for p in np.unique(photos)]
    if len(per_photo) >= 2:
        se = max(se, float(np.std(per_photo, ddof=1) / math.sqrt(len(per_photo))))
    return float(diff.mean()), se


def gain_is_clear(gain_db: float, se_db: float) -> bool:
    return gain_db > CLEAR_GAIN_SE * se_db and gain_db > CLEAR_GAIN_DB


def _save_preview(path: Path, images: torch.Tensor, masks: torch.Tensor, preds: list[torch.Tensor], fill: list[float]) -> None:
    """One row per crop (the first PREVIEW_CROPS), columns (input with hole | each prediction's fill | truth), at the
    model's size: for people to look at, not only read a number."""
    mean = torch.tensor(fill).view(1, 3, 1, 1)
    holed = images * (1 - masks) + mean * masks
    composites = [images * (1 - masks) + pred * masks for pred in preds]
    rows = torch.cat([torch.cat(list(t[:PREVIEW_CROPS]), dim=1) for t in (holed, *composites, images)], dim=2)
    arr = (rows.permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).byte().numpy()
    atomic_write(path, lambda tmp: Image.fromarray(arr).save(tmp, format="PNG"))


def _train_mode(G: torch.nn.Module, freeze_norm: bool) -> None:
    """Training mode, except that with freeze_norm the BatchNorm layers keep the statistics they came with: a few
    hundred steps on a handful of photos would otherwise replace them and shift every fill."""
    G.train()
    if freeze_norm:
        for module in G.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


@torch.no_grad()
def _predict(G: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, gcfg: GeneratorConfig, device: torch.device) -> torch.Tensor:
    """G's fill of the holes in eval mode, in [0,1] on the CPU; G's train/eval mode is left as it was."""
    was_training = G.training
    G.eval()
    pred = ((G(generator_input(images.to(device), masks.to(device), gcfg.fill)) + 1) / 2).clamp(0, 1).cpu()
    G.train(was_training)
    return pred


@torch.no_grad()
def _ema_update(average: torch.nn.Module, G: torch.nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * G, weights and BatchNorm statistics alike."""
    for a, g in zip(average.state_dict().values(), G.state_dict().values()):
        if a.is_floating_point():
            a.lerp_(g, 1 - decay)
        else:
            a.copy_(g)


def _generator_from(state: dict) -> tuple[torch.nn.Module, GeneratorConfig]:
    """The generator stored in a loaded model file or training checkpoint, in float32 on the CPU."""
    gcfg = GeneratorConfig.from_dict(state.get("gen_config") or state["config"])
    G = build_generator(gcfg)
    G.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["generator"].items()})
    return G, gcfg


def _cosine(step: int, anchor_step: int, anchor_lr: float, steps: int, base_lr: float) -> float:
    """Cosine decay from anchor_lr at anchor_step to 5% of base_lr at `steps`: the first steps explore, the last
    polish. A resume with a new --steps moves the anchor, so the curve bends but never jumps."""
    t = min(max(step - anchor_step, 0) / (steps - anchor_step), 1.0) if steps > anchor_step else 1.0  # ended here: floor
    floor = 0.05 * base_lr
    return floor + (anchor_lr - floor) * 0.5 * (1 + math.cos(math.pi * t))


def _any_rank(flag: bool, device: torch.device, world: int) -> bool:
    """Whether flag holds on any rank, so that all take the same branch (on the run's device: NCCL only reduces
    CUDA tensors)."""
    if world == 1:
        return flag
    agreed = torch.tensor([float(flag)], device=device)
    dist.all_reduce(agreed)
    return agreed.item() > 0


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def train(cfg: TrainConfig, stop_requested: Callable[[], bool] = lambda: False) -> Path | None:
    """Run training; returns the path of the exported inference model (rank 0) or None.

    With cfg.minutes the clock starts here (photos still to read): the steps are re-planned to what fits in that
    time, final validation, score and export included, never beyond cfg.steps (reported as `plan` events)."""
    started = time.monotonic()
    if cfg.dry_run:
        cfg.apply_dry_run()
    out = Path(cfg.out)
    resume_path = out / "checkpoint.pt"
    state = None
    if cfg.resume:
        if not resume_path.is_file():
            raise InpaintError(f"nothing to resume: {resume_path} does not exist")
        state = ckpt.load_checkpoint(resume_path)
        saved = TrainConfig(**{k: v for k, v in state["config"].items() if k in TrainConfig.__dataclass_fields__})
        if cfg.data and Path(cfg.data).expanduser().resolve() != Path(saved.data).expanduser().resolve():
            raise InpaintError(
                f"{out} holds a run on the photos in {saved.data}, not {cfg.data}: resume it with those photos, "
                "or choose a new run folder to train on these"
            )
        default = TrainConfig()
        ignored = sorted(
            k for k in TrainConfig.__dataclass_fields__
            if k not in RESUMABLE and k != "data" and getattr(cfg, k) != getattr(saved, k) and getattr(cfg, k) != getattr(default, k)
        )
        for k in RESUMABLE:
            setattr(saved, k, getattr(cfg, k))
        cfg = saved
    device = resolve_device(cfg.device)
    rank, world = _distributed(device)
    if world > 1 and device.type == "cuda":
        torch.cuda.set_device(device)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    report = Reporter(cfg.json, out / "log.jsonl" if rank == 0 else None) if rank == 0 else (lambda *a, **k: None)
    if state is not None and ignored:
        report("warning", message="--resume keeps the run's own settings; ignored: " + ", ".join("--" + k.replace("_", "-") for k in ignored))

    gcfg = cfg.generator_config()
    init_record: dict = {}
    if cfg.init and state is None:
        init_state = ckpt.load_checkpoint(cfg.init)
        init_G, gcfg = _generator_from(init_state)
        init_record = {"init": str(cfg.init), "init_record": init_state.get("record", {})}
    elif state is not None:
        gcfg = GeneratorConfig.from_dict(state["gen_config"])

    torch.manual_seed(cfg.seed)
    G = build_generator(gcfg).to(device)
    D = Discriminator(gcfg.image_size).to(device)
    DL = PatchDiscriminator().to(device)
    if cfg.init and state is None:
        G.load_state_dict(init_G.state_dict())
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr / 10, betas=(0.5, 0.999))  # the paper: D learns 10x slower
    opt_dl = torch.optim.Adam(DL.parameters(), lr=cfg.lr / 10, betas=(0.5, 0.999))
    start_step, history, best_psnr = 0, [], -math.inf
    lr_anchor = (0, cfg.lr)  # (step, lr) the cosine decay starts from; moved on a resume with new --steps, or a re-plan
    if state is not None:
        G.load_state_dict(state["generator"])
        D.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if "local_discriminator" in state:
            DL.load_state_dict(state["local_discriminator"])
            opt_dl.load_state_dict(state["opt_dl"])
        start_step, history = int(state["step"]), list(state.get("history", []))
        best_psnr = float(state.get("best_psnr", -math.inf))
        lr_anchor = tuple(state.get("lr_anchor", (0, cfg.lr)))
        if int(state.get("steps", state["config"]["steps"])) != cfg.steps:
            lr_anchor = (start_step, _cosine(start_step, *lr_anchor, int(state.get("steps", state["config"]["steps"])), cfg.lr))
            report("warning", message=f"--steps {cfg.steps}: the learning rate decays from {lr_anchor[1]:.2e} at step {start_step}")
    # The weights of one step swing the held-out score by up to 1 dB at these learning rates; their moving
    # average does not, so with --ema it is what validates, is kept as best and is exported.
    average = copy.deepcopy(G).eval() if cfg.ema > 0 else None
    if average is not None and state is not None and "ema" in state:
        average.load_state_dict(state["ema"])
    shipped = average if average is not None else G
    G_train, D_train, DL_train = G, D, DL
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        G_train = torch.nn.parallel.DistributedDataParallel(G, device_ids=ids)
        D_train = torch.nn.parallel.DistributedDataParallel(D, device_ids=ids)
        DL_train = torch.nn.parallel.DistributedDataParallel(DL, device_ids=ids)

    warn = (lambda m: report("warning", message=m)) if cfg.json else (lambda m: print(m, file=sys.stderr))
    paths = find_photos(cfg.data)
    report("loading", photos=len(paths))
    progress = lambda done, total: report("loading", done=done, photos=total)  # noqa: E731
    loaded = load_photos(paths, cfg.max_short_side, warn if rank == 0 else lambda m: None, progress if rank == 0 else None)
    # Split what could be read, so one unreadable file never leaves the training side empty.
    train_paths, val_paths = split_photos(list(loaded), cfg.val_fraction, cfg.seed)
    strategy = "center" if cfg.arch == "center" else cfg.mask_strategy
    train_photos = [loaded[p] for p in train_paths]
    if cfg.objects:
        cutouts = load_photos(find_photos(cfg.objects), cfg.max_short_side, warn if rank == 0 else lambda m: None, mode="RGBA")
        train_photos += paste_objects(train_photos, list(cutouts.values()), cfg.seed)
    sampler = DeviceCrops(train_photos, gcfg.image_size, device, cfg.max_zoom_out)
    val_images = val_masks = val_photos = None
    if val_paths and rank == 0:  # fixed held-out crops and holes, kept on the CPU beside the predictions
        cpu, val_rng = torch.device("cpu"), np.random.default_rng([cfg.seed, 999_999])
        val_images, val_photos = DeviceCrops([loaded[p] for p in val_paths], gcfg.image_size, cpu,
                                             cfg.max_zoom_out).batch_from_photos(cfg.val_crops, val_rng)
        val_masks = hole_masks(strategy, cfg.val_crops, gcfg.image_size, val_rng, cpu)
    del loaded, train_photos  # the samplers hold their own copies

    planned = cfg.steps  # where the schedule ends: --steps, or with --minutes what fits in the time (never more)

    def lr_at(step: int) -> float:
        ramp = min(1.0, (step + 1) / cfg.warmup) if cfg.warmup > 0 else 1.0
        return ramp * _cosine(step, *lr_anchor, planned, cfg.lr)

    report(
        "start", step=start_step, steps=cfg.steps, minutes=cfg.minutes, device=describe(device), world_size=world,
        parameters=count_parameters(G), train_photos=len(sampler), val_photos=len(val_paths), arch=gcfg.arch,
        lr=round(lr_at(start_step), 10),
    )

    def adv_scale(step: int) -> float:  # the critics join gradually, once the fill is roughly right
        return min(1.0, (step + 1) / cfg.adv_warmup) if cfg.adv_warmup > 0 else 1.0

    costs = {"val": 0.0, "save": 0.0}  # seconds the last validate() and save() took: a timed run budgets its end

    def save(step: int) -> None:
        if rank != 0:
            return
        began = time.monotonic()
        path = ckpt.save_checkpoint(
            {
                "kind": "training", "generator": G.state_dict(), "discriminator": D.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": step, "steps": planned,
                "local_discriminator": DL.state_dict(), "opt_dl": opt_dl.state_dict(),
                "config": asdict(cfg), "gen_config": gcfg.to_dict(), "history": history,
                "best_psnr": best_psnr, "lr_anchor": list(lr_anchor),
                **({"ema": average.state_dict()} if average is not None else {}),
            },
            resume_path,
        )
        costs["save"] = time.monotonic() - began
        report("checkpoint", step=step, path=str(path))

    validated: dict[int, torch.Tensor] = {}  # the latest validation's fills, by its step: the final score reuses them

    def validate(step: int) -> torch.Tensor | None:
        """Score the shipped weights on the held-out crops; returns their fills (None without held-out photos)."""
        nonlocal best_psnr
        if val_images is None:
            return None
        began = time.monotonic()
        pred = _predict(shipped, val_images, val_masks, gcfg, device)
        _train_mode(G, cfg.freeze_norm)
        psnr = _psnr_on_hole(pred, val_images, val_masks)
        preview = out / f"preview-{step:06d}.png"
        _save_preview(preview, val_images, val_masks, [pred], gcfg.fill)
        history.append({"step": step, "val_psnr": round(psnr, 3), "time": time.time()})
        report("val", step=step, val_psnr=round(psnr, 3), preview=str(preview))
        if psnr > best_psnr:
            best_psnr = psnr
            best = ckpt.export_inference(shipped, gcfg, {"steps": step, "val_psnr": round(psnr, 3), **record()}, out / "best.pt")
            report("best", step=step, val_psnr=round(psnr, 3), model=str(best))
        costs["val"] = time.monotonic() - began
        validated.clear()
        validated[step] = pred
        return pred

    def resumed_starting_fills() -> torch.Tensor | None:
        """The --init model's fills of the held-out crops, for the score at the end of a resumed run."""
        try:
            start_G, start_cfg = _generator_from(ckpt.load_checkpoint(cfg.init))
        except InpaintError as exc:
            report("warning", message=f"the starting model could not be scored: {exc}")
            return None
        if start_cfg.image_size != gcfg.image_size:
            report("warning", message=f"the starting model works at {start_cfg.image_size} px, this one at {gcfg.image_size}: not scored")
            return None
        return _predict(start_G.to(device), val_images, val_masks, start_cfg, device)

    def score(before: torch.Tensor) -> None:
        """Once, at the end: the starting model against the new one on the same held-out crops as validate(), the
        gain with its standard error, and whether it clearly exceeds that noise. The new model's fills are the last
        validation's, which every run ends with (2.6 s of the CPU's time to predict again)."""
        after = validated.get(step)
        if after is None:
            after = _predict(shipped, val_images, val_masks, gcfg, device)
        psnr_before, psnr_after = _psnr_on_hole(before, val_images, val_masks), _psnr_on_hole(after, val_images, val_masks)
        gain, se = _gain(before, after, val_images, val_masks, val_photos)
        preview = out / "score.png"
        _save_preview(preview, val_images, val_masks, [before, after], gcfg.fill)
        report(
            "score", step=step, before_psnr=round(psnr_before, 3), after_psnr=round(psnr_after, 3),
            gain_db=round(gain, 3), gain_se_db=round(se, 3), clear=gain_is_clear(gain, se), val_photos=len(val_paths),
            crops=len(val_images), preview=str(preview),
        )

    measured: tuple[int, float] | None = None  # (step, time) a timed run measures its speed from

    def pace(step: int, now: float) -> float:
        """Seconds a step has taken since `measured`, the validations and checkpoints among them included."""
        return (now - measured[1]) / (step - measured[0])

    def finish_s() -> float:
        """Time kept for the end: the final validation and checkpoint, then the score (both models' fills are made by
        then: its preview) and the export, kept at one more validation's time."""
        return 2 * costs["val"] + 2 * costs["save"]

    def replan_due(step: int) -> bool:
        """After MEASURE_STEPS measured steps, then at each REPLANS-th of the plan, and whenever the plan would
        overrun the time at the pace so far (a slower stretch: the end is moved up before the time runs out)."""
        done, now = step - measured[0], time.monotonic()
        scheduled = done == MEASURE_STEPS or (done > MEASURE_STEPS and done % max(1, (planned - measured[0]) // REPLANS) == 0)
        overrun = done > MEASURE_STEPS and now + (planned - step) * pace(step, now) + finish_s() > deadline
        return scheduled or overrun

    def replan(step: int) -> None:
        """Fit the schedule into the time left at the pace so far, keeping finish_s() and a margin, never beyond
        --steps (with no time left it ends now). The cosine is re-anchored where it is, so the learning rate bends
        but never jumps."""
        nonlocal planned, lr_anchor
        now = time.monotonic()
        fits = int((deadline - finish_s() - now) * (1 - PLAN_MARGIN) / pace(step, now)) - SPARE_STEPS
        fit = torch.tensor([float(min(cfg.steps, step + max(0, fits)))])
        if world > 1:
            fit = fit.to(device)
            dist.all_reduce(fit, op=dist.ReduceOp.MIN)  # every rank ends at the same step
        if int(fit.item()) != planned or step - measured[0] == MEASURE_STEPS:  # the first plan, even if unchanged
            lr_anchor = (step, _cosine(step, *lr_anchor, planned, cfg.lr))
            planned = int(fit.item())
            report("plan", step=step, steps=planned, seconds_per_step=round(pace(step, now), 3), finish_s=round(finish_s(), 1))

    def record() -> dict:
        return {
            "batch_size": cfg.batch_size, "world_size": world, "device": describe(device),
            "parameters": count_parameters(G), "train_photos": len(sampler), "data": str(cfg.data), "objects": cfg.objects,
            "mask_strategy": strategy, "adv_weight": cfg.adv_weight, "local_adv_weight": cfg.local_adv_weight,
            "fm_weight": cfg.fm_weight, "texture_weight": cfg.texture_weight, "ema": cfg.ema, "lr": cfg.lr, "history": history, **init_record,
        }

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    # A run from a model scores it before the first step: the first figure the user sees, and the score's "before".
    # A resumed run reads it again from its --init file.
    before = None
    if val_images is not None and cfg.init:
        before = validate(start_step) if state is None else resumed_starting_fills()
    _train_mode(G, cfg.freeze_norm)
    D_train.train()
    rate, t_last, step = None, time.time(), start_step
    deadline = started + cfg.minutes * 60 if cfg.minutes > 0 else math.inf
    try:
        while step < planned:
            rng = np.random.default_rng([cfg.seed, rank, step])
            images = sampler.batch(cfg.batch_size, rng)
            masks = hole_masks(strategy, cfg.batch_size, gcfg.image_size, rng, device)
            _set_lr(opt_g, lr_at(step))
            _set_lr(opt_d, lr_at(step) / 10)  # both critics learn 10x slower than the generator, on its schedule
            _set_lr(opt_dl, lr_at(step) / 10)
            target = images * 2 - 1
            pred = G_train(generator_input(images, masks, gcfg.fill))
            loss_rec = reconstruction_loss(pred, target, masks)
            loss_d = loss_adv = loss_local = loss_fm = torch.zeros((), device=device)
            composite = pred * masks + target * (1 - masks)
            if cfg.adv_weight > 0:
                d_out = D_train(torch.cat([target, composite.detach()]))
                loss_d = adversarial_losses(d_out[: len(target)], d_out[len(target):])
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                loss_adv = generator_adversarial(D_train(composite))
            if cfg.local_adv_weight > 0 or cfg.fm_weight > 0:
                dl_out, _ = DL_train(torch.cat([target, composite.detach()]))
                loss_dl = local_adversarial_losses(dl_out[: len(target)], dl_out[len(target):], masks)
                opt_dl.zero_grad(set_to_none=True)
                loss_dl.backward()
                opt_dl.step()
                loss_d = loss_d + loss_dl.detach()
                (fake_map, fake_feats), (_, real_feats) = DL_train(composite), DL_train(target)
                loss_local = local_generator_adversarial(fake_map, masks)
                loss_fm = feature_matching(fake_feats, real_feats)
            loss_tex = texture_strength_loss(pred, target, masks) if cfg.texture_weight > 0 else torch.zeros((), device=device)
            k = adv_scale(step)
            loss = (
                (1 - cfg.adv_weight) * loss_rec + cfg.texture_weight * loss_tex + k * cfg.adv_weight * loss_adv
                + k * cfg.local_adv_weight * loss_local + k * cfg.fm_weight * loss_fm
            )
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            if average is not None:
                _ema_update(average, G, cfg.ema)
            step += 1
            if cfg.minutes > 0:
                if measured is None:
                    measured = (step, time.monotonic())
                elif _any_rank(replan_due(step), device, world):
                    replan(step)

            now = time.time()
            inst = cfg.batch_size * world / max(now - t_last, 1e-6)
            rate = inst if rate is None else 0.9 * rate + 0.1 * inst
            t_last = now
            if step % cfg.log_every == 0 or step == planned:
                report(
                    "step", step=step, steps=planned, loss_rec=round(loss_rec.item(), 5),
                    loss_adv=round((loss_adv + loss_local).item(), 4), loss_fm=round(loss_fm.item(), 4),
                    loss_tex=round(loss_tex.item(), 4),
                    loss_d=round(loss_d.item(), 4), images_per_s=round(rate, 2), lr=round(lr_at(step), 10),
                    eta_s=round((planned - step) * cfg.batch_size * world / rate, 1),
                )
            if step % cfg.val_every == 0 or step == planned:
                validate(step)
            if step % cfg.checkpoint_every == 0 or step == planned:
                save(step)
            out_of_time = time.monotonic() > deadline
            if _any_rank(stop["flag"] or stop_requested() or out_of_time, device, world):
                if step < planned:
                    if not history or history[-1]["step"] != step:
                        validate(step)
                    save(step)
                    report("stopped", step=step, reason="time" if out_of_time else "request")
                break
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    model_path = None
    if rank == 0:
        if before is not None:
            score(before)
        model_path = ckpt.export_inference(shipped, gcfg, {"steps": step, **record()}, out / "model.pt")
        report("done", step=step, model=str(model_path))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return model_path
