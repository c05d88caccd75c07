import pytest
import torch

from contextfill.model.networks import (
    ChannelwiseFC,
    Discriminator,
    GeneratorConfig,
    build_generator,
    count_parameters,
    full_fc_parameters,
    generator_input,
)


@pytest.mark.parametrize("m,n", [(256, 8), (64, 4), (256, 6)])
def test_channelwise_fc_has_m_n4_weights_against_m2_n4_for_full(m, n):
    layer = ChannelwiseFC(m, n)
    assert layer.weight.numel() == m * n**4
    assert count_parameters(layer) == m * n**4 + m * n * n  # plus one bias per output unit
    assert full_fc_parameters(m, n) == m**2 * n**4


def test_channelwise_fc_never_mixes_channels():
    layer = ChannelwiseFC(4, 3)
    x = torch.randn(2, 4, 3, 3)
    y = layer(x)
    x2 = x.clone()
    x2[:, 1] += 5.0
    y2 = layer(x2)
    changed = (y2 - y).abs().amax(dim=(0, 2, 3)) > 1e-6
    assert changed.tolist() == [False, True, False, False]


@pytest.mark.parametrize("arch,size", [("inpaint", 128), ("center", 128), ("alexnet", 227)])
def test_generators_map_four_channels_to_a_full_image(arch, size):
    cfg = GeneratorConfig(arch=arch, image_size=size, bottleneck=64)
    net = build_generator(cfg).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 4, size, size) * 2 - 1)
    assert out.shape == (1, 3, size, size)
    assert out.abs().max() <= 1.0


def test_center_net_keeps_the_context_outside_the_centre():
    net = build_generator(GeneratorConfig(arch="center", bottleneck=64)).eval()
    x = torch.rand(1, 4, 128, 128) * 2 - 1
    with torch.no_grad():
        out = net(x)
    assert torch.equal(out[:, :, :32], x[:, :3, :32])
    assert torch.equal(out[:, :, :, 96:], x[:, :3, :, 96:])


@pytest.mark.parametrize("upconv", ["upsample", "transposed"])
def test_both_upconvolutions_build(upconv):
    cfg = GeneratorConfig(image_size=32, widths=[8, 8, 8, 8], decoder_widths=[8, 8, 8], upconv=upconv)
    assert build_generator(cfg)(torch.randn(2, 4, 32, 32)).shape == (2, 3, 32, 32)


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_generator(GeneratorConfig(arch="vgg"))


def test_generator_input_sets_the_hole_to_the_data_mean_and_adds_the_mask():
    images = torch.ones(1, 3, 8, 8)
    masks = torch.zeros(1, 1, 8, 8)
    masks[..., 2:4, 2:4] = 1
    x = generator_input(images, masks, [0.5, 0.5, 0.5])
    assert x.shape == (1, 4, 8, 8)
    assert torch.allclose(x[0, :3, 2, 2], torch.zeros(3))  # 0.5 in [-1, 1]
    assert torch.allclose(x[0, :3, 0, 0], torch.ones(3))
    assert torch.equal(x[:, 3:], masks)


def test_discriminator_scores_each_image():
    assert Discriminator(32)(torch.randn(3, 3, 32, 32)).shape == (3,)
