"""The `contextfill` command line: train, batch and eval, headless (no Qt is imported on these paths)."""

from __future__ import annotations

import argparse
import sys

from .devices import CHOICES as DEVICE_CHOICES
from .errors import InpaintError

SUBCOMMANDS = ("train", "batch", "eval", "export")


def _add_train(sub) -> None:
    from .masks import STRATEGIES
    from .networks import ARCHITECTURES

    p = sub.add_parser("train", help="train or fine-tune a context encoder on a folder of photos")
    p.add_argument("--data", required=True, help="folder of photos (searched recursively)")
    p.add_argument("--objects", help="folder of RGBA cut-outs pasted onto copies of the photos (things, not only scenery)")
    p.add_argument("--out", required=True, help="run folder for checkpoints, previews and the final model.pt")
    p.add_argument("--init", help="start from this model or checkpoint (fine-tuning: unless given, --lr 1e-4, "
                   "--freeze-norm and --adv-weight 0, the wizard's recipe)")
    p.add_argument("--arch", choices=list(ARCHITECTURES), default="inpaint")
    p.add_argument("--mask-strategy", choices=STRATEGIES, default="mixed")
    p.add_argument("--steps", type=int, default=2000, help="total steps (with --dry-run at most 20, unless --minutes bounds it); with --minutes the most it takes")
    p.add_argument("--minutes", type=float, default=0.0, help="train for this many minutes, reading the photos, final score and export included: once its speed "
                   "is measured (and again at each tenth of the run) the run re-plans its steps to what fits, so the "
                   "learning rate decays fully by then; a JSON `plan` event gives the new total (0: no limit)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, help="learning rate (default 5e-4; 1e-4 with --init)")
    p.add_argument("--adv-weight", type=float, help="global critic, default 0.001 (0 with --init); 0 trains with reconstruction loss alone")
    p.add_argument("--local-adv-weight", type=float, default=0.0, help="PatchGAN critic on the hole (Iizuka et al. 2017)")
    p.add_argument("--fm-weight", type=float, default=0.0, help="feature matching on the local critic's features")
    p.add_argument("--texture-weight", type=float, default=0.0, help="match the truth's local gradient strength in the hole (sharper fills)")
    p.add_argument("--warmup", type=int, default=0, help="steps over which the learning rate ramps up from 0 (fine-tuning: Adam starts without moments)")
    p.add_argument("--ema", type=float, default=0.0, help="keep a moving average of the weights with this decay (e.g. 0.999) and ship it")
    p.add_argument("--adv-warmup", type=int, default=0, help="steps over which the critics' weights ramp up from 0")
    p.add_argument("--freeze-norm", action=argparse.BooleanOptionalAction,
                   help="keep BatchNorm statistics (the default with --init: fine-tuning on few photos)")
    p.add_argument("--upconv", choices=("upsample", "transposed"), default="upsample")
    p.add_argument("--widths", type=lambda s: [int(v) for v in s.split(",")], help="encoder widths, e.g. 48,96,192,256")
    p.add_argument("--decoder-widths", type=lambda s: [int(v) for v in s.split(",")], help="e.g. 128,64,32")
    p.add_argument("--max-zoom-out", type=float, default=4.0, help="largest crop side as a multiple of the model size")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of the photos held out to score on, at least 5 where a third of them allows (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--val-every", type=int, default=250,
                   help="score on the held-out photos every N steps; with --init the starting model is scored at step "
                   "0, and the final `score` event gives the gain, its standard error and whether it is clear "
                   "(over 2 standard errors and 0.01 dB)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    p.add_argument("--dry-run", action="store_true", help="a few steps on tiny crops (seconds), for tests")
    p.add_argument("--json", action="store_true", help="print one JSON object per line (for the GUI and scripts)")


def train_config(args: argparse.Namespace):
    """The TrainConfig of parsed `train` arguments: only the options given, so --init can supply its recipe."""
    from .train import TrainConfig, make_config

    return make_config(**{k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__ and v is not None})


def _run_train(args) -> int:
    from .train import train

    train(train_config(args))
    return 0


def _add_batch(sub) -> None:
    from .batch import FORMATS
    from .imageio import max_megapixels
    from .methods import BEST, NAMES

    p = sub.add_parser(
        "batch", help="fill the same kind of hole in a file or a folder of photos",
        description="Fill every photo of a folder. A result keeps its photo's name and format (JPEG at quality 95 "
        "with EXIF and ICC kept); with --format it takes that suffix, and photo-tif.png when another photo has the "
        "same stem. An existing file is never replaced (name-2 instead). A bad file is reported in one line and "
        "the run goes on. Exit status: 0 all filled, 1 some files failed, 2 the run could not start or stopped.",
    )
    p.add_argument("input", help="an image file or a folder of images")
    p.add_argument("output", help="folder for the results; never the input folder")
    p.add_argument("--mask", required=True, help="a mask image for all, a folder of masks matched by stem, or 'center'")
    p.add_argument("--method", choices=NAMES, default=BEST, help="default: %(default)s, the fill viewers kept in blind tests")
    p.add_argument("--model", help="model file (default: the bundled model)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--format", choices=list(FORMATS), help="write every result in this format (default: the photo's)")
    p.add_argument("--max-megapixels", type=float, default=round(max_megapixels()),
                   help="refuse larger images, a guard against decompression bombs (default: %(default)s, Pillow's)")
    p.add_argument("--skip-existing", action="store_true", help="leave inputs whose output already exists (an empty file, a killed run's leftover, is filled)")
    p.add_argument("--shard", help="K/N: process every N-th file starting at K (0-based); default under torchrun: rank/world")


def _run_batch(args) -> int:
    import warnings

    from .batch import parse_shard, run_batch
    from .imageio import set_max_megapixels

    set_max_megapixels(args.max_megapixels)
    warnings.formatwarning = lambda message, category, *_args, **_kw: f"     warning: {message}\n"  # one line, no source
    summary = run_batch(
        args.input, args.output, args.mask, method=args.method, model=args.model, device=args.device,
        fmt=args.format, skip_existing=args.skip_existing, shard=parse_shard(args.shard),
    )
    print(summary.text())
    return 1 if summary.failed else 0


def _add_eval(sub) -> None:
    from .evaluate import PEER_METHODS, PROTOCOLS
    from .methods import NAMES

    p = sub.add_parser("eval", help="the paper's table (L1 %%, L2 %%, PSNR on the hole) on your own photos")
    p.add_argument("folder", help="folder of photos (searched recursively)")
    p.add_argument("--mask", choices=list(PROTOCOLS), default="center", help="center: 128px, central 64x64; blobs: 512px, irregular holes; large: 1024px, holes 300-450px across")
    p.add_argument("--methods", nargs="+", default=list(NAMES + PEER_METHODS), help="any of " + ", ".join(NAMES + PEER_METHODS))
    p.add_argument("--model", help="model file (default: the bundled model)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="use at most this many photos")
    p.add_argument("--json", dest="json_out", help="also write the table to this JSON file")


def _run_eval(args) -> int:
    from .evaluate import evaluate, format_table, write_json

    rows = evaluate(args.folder, args.mask, args.methods, args.model, args.device, args.seed, args.limit)
    print(format_table(rows, args.mask))
    if args.json_out:
        write_json(rows, args.mask, args.json_out)
    return 0


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="write the small inference model from a training checkpoint")
    p.add_argument("checkpoint", help="RUN_DIR/checkpoint.pt (or any model file)")
    p.add_argument("output", help="new model file, e.g. my-model.pt")


def _run_export(args) -> int:
    from pathlib import Path

    from .checkpoint import export_from_checkpoint

    if Path(args.output).exists():
        raise InpaintError(f"{args.output} exists; choose a new file name")
    print(export_from_checkpoint(args.checkpoint, args.output))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contextfill", description="Fill holes in photos with a context encoder.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_batch(sub)
    _add_eval(sub)
    _add_export(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"train": _run_train, "batch": _run_batch, "eval": _run_eval, "export": _run_export}[args.command](args)
    except InpaintError as exc:
        print(f"contextfill: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
