"""The context-encoder networks of Pathak et al. 2016 and the DCGAN-style discriminator.

Every generator takes a (B, 4, S, S) tensor -- the RGB image in [-1, 1] with the hole set to the data mean,
plus the hole mask as a fourth channel -- and returns a full (B, 3, S, S) image in [-1, 1], so training and
inference treat all architectures alike; only the hole of the output is ever kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


class ChannelwiseFC(nn.Module):
    """Fully connects each of m feature maps of n x n to itself: m*n^4 weights, no cross-channel weights.

    This is what lets every decoder unit see the whole image without the m^2*n^4 weights of a full layer.
    """

    def __init__(self, channels: int, size: int):
        super().__init__()
        self.channels, self.size = channels, size
        area = size * size
        self.weight = nn.Parameter(torch.empty(channels, area, area))
        self.bias = nn.Parameter(torch.zeros(channels, area))
        nn.init.normal_(self.weight, std=(1.0 / area) ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w).transpose(0, 1)  # (C, B, n^2)
        out = torch.baddbmm(self.bias.unsqueeze(1), flat, self.weight)  # (C, B, n^2)
        return out.transpose(0, 1).reshape(b, c, h, w)


def full_fc_parameters(channels: int, size: int) -> int:
    """Weights a plain fully-connected layer between the same shapes would need (built on the meta device)."""
    features = channels * size * size
    return nn.Linear(features, features, bias=False, device="meta").weight.numel()


def _down(cin: int, cout: int, norm: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return layers


def _encoder(cin: int, widths: list[int] | tuple[int, ...]) -> tuple[list[nn.Module], int]:
    """Stride-2 4x4 convolutions halving the size each time (no BatchNorm on the first, as in DCGAN)."""
    layers: list[nn.Module] = []
    for i, w in enumerate(widths):
        layers += _down(cin, w, norm=i > 0)
        cin = w
    return layers, cin


def _up(cin: int, cout: int, mode: str, last: bool = False) -> list[nn.Module]:
    """One up-convolution doubling the size: nearest upsampling + 3x3 conv, or a transposed 4x4 stride-2 conv."""
    if mode == "upsample":
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=last)]
    elif mode == "transposed":
        layers = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=last)]
    else:
        raise ValueError(f"unknown up-convolution {mode!r}; use 'upsample' or 'transposed'")
    if last:
        layers.append(nn.Tanh())
    else:
        layers += [nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return layers


@dataclass
class GeneratorConfig:
    """Everything needed to rebuild a generator; stored as a plain dict inside every checkpoint."""

    arch: str = "inpaint"
    image_size: int = 128
    widths: list[int] = field(default_factory=lambda: [48, 96, 192, 256])
    decoder_widths: list[int] = field(default_factory=lambda: [192, 96, 48])
    upconv: str = "upsample"
    bottleneck: int = 4000  # centre arch only
    fill: list[float] = field(default_factory=lambda: [0.46, 0.45, 0.42])  # hole value, data mean in [0, 1]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class ContextEncoder(nn.Module):
    """The inpainting net: strided-conv encoder -> channel-wise FC -> stride-1 conv -> up-convolution decoder."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        size, widths = cfg.image_size, cfg.widths
        layers, cin = _encoder(4, widths)
        self.encoder = nn.Sequential(*layers)
        n = size // 2 ** len(widths)
        self.channelwise = ChannelwiseFC(cin, n)
        self.mix = nn.Sequential(nn.Conv2d(cin, cin, 1), nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
        dec: list[nn.Module] = []
        for w in cfg.decoder_widths:
            dec += _up(cin, w, cfg.upconv)
            cin = w
        dec += _up(cin, 3, cfg.upconv, last=True)
        if len(cfg.decoder_widths) + 1 != len(widths):
            raise ValueError("decoder needs one up-convolution per encoder down-sampling")
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.mix(self.channelwise(self.encoder(x))))


class CenterContextEncoder(nn.Module):
    """The paper's centre-region net: 128 in, a 4000-unit bottleneck, 64x64 centre out.

    The predicted centre (which overlaps the context by a band, as in the paper) is pasted into the input so
    the result is a full image like the other generators return.
    """

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        if cfg.image_size != 128:
            raise ValueError("the centre-region net works at 128x128")
        layers, cin = _encoder(4, [64, 64, 128, 256, 512])
        layers += [nn.Conv2d(cin, cfg.bottleneck, 4), nn.BatchNorm2d(cfg.bottleneck), nn.LeakyReLU(0.2, True)]
        self.encoder = nn.Sequential(*layers)
        dec: list[nn.Module] = [nn.ConvTranspose2d(cfg.bottleneck, 512, 4), nn.BatchNorm2d(512), nn.ReLU(True)]
        cin = 512
        for c in (256, 128, 64):
            dec += _up(cin, c, cfg.upconv)
            cin = c
        dec += _up(cin, 3, cfg.upconv, last=True)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centre = self.decoder(self.encoder(x))
        out = x[:, :3].clone()
        out[:, :, 32:96, 32:96] = centre
        return out


class AlexNetContextEncoder(nn.Module):
    """The feature-learning net: AlexNet conv1-pool5 at 227 -> 6x6x256 -> channel-wise FC -> five up-convs."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        from torchvision.models import alexnet  # only this architecture needs torchvision's definition

        if cfg.image_size != 227:
            raise ValueError("the AlexNet net works at 227x227")
        features = alexnet(weights=None).features
        first = features[0]
        features[0] = nn.Conv2d(4, first.out_channels, first.kernel_size, first.stride, first.padding)
        self.encoder = features  # (B, 256, 6, 6) at 227
        self.channelwise = ChannelwiseFC(256, 6)
        self.mix = nn.Sequential(nn.Conv2d(256, 256, 1), nn.BatchNorm2d(256), nn.ReLU(inplace=True))
        dec: list[nn.Module] = []
        cin = 256
        for c in (128, 64, 64, 32):
            dec += _up(cin, c, cfg.upconv)
            cin = c
        dec += _up(cin, 3, cfg.upconv, last=True)  # 6 -> 192
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.decoder(self.mix(self.channelwise(self.encoder(x))))
        return nn.functional.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


ARCHITECTURES = {"inpaint": ContextEncoder, "center": CenterContextEncoder, "alexnet": AlexNetContextEncoder}
DEFAULT_SIZES = {"inpaint": 128, "center": 128, "alexnet": 227}


def build_generator(cfg: GeneratorConfig) -> nn.Module:
    if cfg.arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {cfg.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[cfg.arch](cfg)


class Discriminator(nn.Module):
    """DCGAN-style critic that sees only an image (the filled output), never the mask or the context split."""

    def __init__(self, image_size: int = 128, widths: tuple[int, ...] = (32, 64, 128, 256)):
        super().__init__()
        layers, cin = _encoder(3, widths)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


class PatchDiscriminator(nn.Module):
    """Local critic (PatchGAN): one real/fake score per ~30 px patch, so the loss can be weighted by the hole and
    the generator is judged on the texture it painted, not on the whole image. Its intermediate features also
    serve the feature-matching loss (a learned perceptual distance that needs no pretrained network)."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        layers, cin = _encoder(3, widths)
        self.blocks = nn.ModuleList(nn.Sequential(*layers[i:j]) for i, j in self._block_bounds(layers))
        self.head = nn.Conv2d(cin, 1, 3, 1, 1)

    @staticmethod
    def _block_bounds(layers: list[nn.Module]) -> list[tuple[int, int]]:
        starts = [i for i, layer in enumerate(layers) if isinstance(layer, nn.Conv2d)]
        return list(zip(starts, starts[1:] + [len(layers)]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return self.head(x).squeeze(1), features


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def generator_input(images: torch.Tensor, masks: torch.Tensor, fill: list[float]) -> torch.Tensor:
    """(B,3,S,S) images in [0,1] and (B,1,S,S) masks -> the (B,4,S,S) input: [-1,1] image, hole = data mean."""
    mean = torch.tensor(fill, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    holed = images * (1 - masks) + mean * masks
    return torch.cat([holed * 2 - 1, masks], dim=1)
