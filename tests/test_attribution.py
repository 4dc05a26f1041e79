"""Attributions (saliency, Grad-CAM, Integrated Gradients, occlusion): held against Captum and
against references computed by hand, and they leave the model as they found it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency
from torch import nn

from convlens.look import attribution
from convlens.models.hooks import conv_layers

METHODS = {
    "saliency": attribution.saliency,
    "gradcam": attribution.gradcam,
    "integrated-gradients": attribution.integrated_gradients,
    "occlusion": attribution.occlusion,
}


def vgg_like(*, inplace: bool, seed: int = 0) -> nn.Sequential:
    """VGG/AlexNet style: plain Sequential, each Conv2d followed by a ReLU (in place or not)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(inplace),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(6 * 6 * 6, 3),
    )


def twin(model: nn.Sequential) -> nn.Sequential:
    """The same weights with every ReLU out of place (the reference without in-place ops)."""
    other = vgg_like(inplace=False)
    other.load_state_dict(model.state_dict())
    return other.eval()


def an_input(seed: int = 1) -> torch.Tensor:
    return torch.randn(1, 1, 12, 12, generator=torch.Generator().manual_seed(seed))


def test_the_last_conv_is_chosen_and_it_is_followed_by_an_inplace_relu():
    model = vgg_like(inplace=True)
    assert conv_layers(model) == ["0", "4"]
    assert isinstance(model[4], nn.Conv2d) and model[5].inplace


def test_gradcam_is_not_spoilt_by_an_inplace_relu_after_the_hooked_conv():
    model = vgg_like(inplace=True).eval()
    ref_model = twin(model)
    for seed in range(4):
        x = an_input(seed)
        cam, target, layer = attribution.gradcam(model, x)
        assert layer == "4"
        # by hand, without in-place ops: pre-ReLU conv output and the gradient with respect to it
        act = ref_model[:5](x).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(ref_model[5:](act)[0, target], act)
        ref = F.relu((grad.mean((2, 3), keepdim=True) * act).sum(1, keepdim=True)).detach()
        ref = F.interpolate(ref, size=(12, 12), mode="bilinear", align_corners=False)[0, 0]
        ref = (ref / ref.max()).numpy() if ref.max() > 0 else ref.numpy()
        np.testing.assert_allclose(cam, ref, atol=1e-5)
        again, _, _ = attribution.gradcam(ref_model, x)
        np.testing.assert_allclose(cam, again, atol=1e-5)


@pytest.mark.parametrize("kind", METHODS)
def test_attribution_leaves_mode_and_grads_as_it_found_them(kind):
    model = vgg_like(inplace=True).train()
    preset = torch.full_like(model[0].weight, 0.25)
    model[0].weight.grad = preset.clone()
    stats = model[1].running_mean.clone()
    flags = [p.requires_grad for p in model.parameters()]
    heat, target = METHODS[kind](model, an_input())[:2]
    assert heat.shape == (12, 12) and 0 <= target < 3
    assert model.training and all(m.training for m in model.modules())
    assert torch.equal(model[0].weight.grad, preset)
    assert all(p.grad is None for name, p in model.named_parameters() if name != "0.weight")
    assert torch.equal(model[1].running_mean, stats)  # ran in eval mode: stats untouched
    assert [p.requires_grad for p in model.parameters()] == flags
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    model.eval()
    _, target_eval = METHODS[kind](model, an_input())[:2]
    assert target == target_eval  # the class explained is eval's


def test_saliency_matches_captum():
    model = vgg_like(inplace=True).eval()
    x = an_input()
    heat, target = attribution.saliency(model, x)
    assert target == int(model(x).argmax(1))
    ref = Saliency(twin(model)).attribute(x.clone().requires_grad_(True), target=target, abs=True)
    np.testing.assert_allclose(heat, ref.amax(1)[0].numpy(), rtol=1e-5, atol=1e-7)
    other, chosen = attribution.saliency(model, x, target=(target + 1) % 3)
    assert chosen == (target + 1) % 3 and not np.allclose(other, heat)


def test_gradcam_matches_captum_layergradcam():
    model = vgg_like(inplace=False).eval()
    x = an_input(3)
    for layer in ("0", "4"):
        cam, target, name = attribution.gradcam(model, x, layer)
        assert name == layer and cam.min() >= 0 and cam.max() == pytest.approx(1.0)
        ref = LayerGradCam(model, model[int(layer)]).attribute(
            x, target=target, relu_attributions=True
        )
        ref = LayerAttribution.interpolate(ref, (12, 12), interpolate_mode="bilinear")[0, 0]
        np.testing.assert_allclose(cam, (ref / ref.max()).detach().numpy(), atol=1e-5)


def test_integrated_gradients_matches_captum_and_adds_up():
    model = vgg_like(inplace=True).eval()
    x, baseline = an_input(), torch.full((1, 1, 12, 12), -0.5)
    heat, target = attribution.integrated_gradients(model, x, baseline=baseline, steps=64)
    ref = IntegratedGradients(twin(model)).attribute(
        x, baselines=baseline, target=target, n_steps=64
    )
    np.testing.assert_allclose(heat, ref.sum(1)[0].numpy(), rtol=1e-4, atol=1e-6)
    # completeness: the attributions add up to the change of the class score
    with torch.no_grad():
        change = float(model(x)[0, target] - model(baseline)[0, target])
    assert heat.sum() == pytest.approx(change, rel=0.02, abs=1e-3)


def test_occlusion_is_the_drop_of_the_score_when_a_patch_is_hidden():
    model = vgg_like(inplace=True).eval()
    x = an_input(2)
    heat, target = attribution.occlusion(model, x, window=4, stride=4, baseline=0.0)
    with torch.no_grad():
        score = float(model(x)[0, target])
        for r in range(0, 12, 4):
            for c in range(0, 12, 4):
                hidden = x.clone()
                hidden[..., r : r + 4, c : c + 4] = 0.0
                drop = score - float(model(hidden)[0, target])
                np.testing.assert_allclose(heat[r : r + 4, c : c + 4], drop, rtol=1e-4, atol=1e-5)


def test_bad_arguments_say_what_is_accepted():
    from convlens.errors import ConfigError, ModelError

    model = vgg_like(inplace=False).eval()
    with pytest.raises(ModelError, match="no layer 'conv9'.*layers: 0, 4"):
        attribution.gradcam(model, an_input(), "conv9")
    with pytest.raises(ConfigError, match="Expected a target class in 0..2. Received: 3"):
        attribution.saliency(model, an_input(), target=3)
    with pytest.raises(ConfigError, match="Expected one input of shape"):
        attribution.saliency(model, torch.zeros(2, 1, 12, 12))
    with pytest.raises(ConfigError, match="Expected an occlusion window of 1..12"):
        attribution.occlusion(model, an_input(), window=13)
    with pytest.raises(ModelError, match="no Conv2d layer"):
        attribution.gradcam(nn.Sequential(nn.Flatten(), nn.Linear(144, 3)), an_input())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", METHODS)
def test_attributions_of_a_model_on_cuda(kind):
    model = vgg_like(inplace=True).eval()
    x = an_input()
    on_cpu = METHODS[kind](model, x)[0]
    on_gpu = METHODS[kind](model.cuda(), x.cuda())[0]
    assert isinstance(on_gpu, np.ndarray) and on_gpu.shape == (12, 12)
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    ("kind", "signed", "reading"),
    [
        ("saliency", False, "bright = pixels whose small change moves the class score most"),
        ("gradcam (conv2)", False, "bright = regions whose features in that layer raise"),
        ("occlusion", True, "red = covering this patch lowers the class score (it mattered)"),
    ],
)
def test_an_attribution_picture_has_a_colour_bar_and_says_how_to_read_it(kind, signed, reading):
    import matplotlib.pyplot as plt

    from convlens.look.activations import draw_attribution

    heat = np.linspace(-1 if signed else 0, 2, 64).reshape(8, 8)
    pixels = torch.randint(0, 256, (1, 8, 8), dtype=torch.uint8)
    fig = draw_attribution(pixels, heat, kind=kind, label="cat, test[0]")
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "attribution"]
    assert len(bars) == 1
    heat_panel = [ax for ax in fig.axes if ax.images and ax.get_title().startswith(kind)][0]
    assert heat_panel.images[0].get_clim() == ((-2.0, 2.0) if signed else (0.0, 2.0))
    title = fig._suptitle.get_text()
    assert title.startswith(f"{kind}: where the model looked for 'cat, test[0]'\n")
    assert reading in title
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1
    plt.close("all")
