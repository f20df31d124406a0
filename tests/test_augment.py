"""The recipe's pieces: augmentation keeps targets consistent with the mix, the learning-rate schedule, the mask
combination of the two models, and what `--resume` may change."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.augment import Augment, random_gain, remix, step_generator
from training.resume import run_changes
from training.schedule import MIN_RATIO, lr_at
from separation.separate import combine_masks
from training.train import TrainConfig


def batch(b: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mix, vocal target, instrumental) like the shards: Y_v = max(0, X - Y_i), all in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    inst = torch.rand(b, 1, 512, 128, generator=g) * 0.6
    voc = torch.rand(b, 1, 512, 128, generator=g) * 0.4 * (torch.rand(b, 1, 1, 128, generator=g) > 0.3)
    mix = voc + inst + 0.05 * torch.rand(b, 1, 512, 128, generator=g)  # phases: |X| is not exactly the sum
    target = torch.clamp(mix - inst, min=0)
    return mix, target, inst


def test_remix_makes_exact_mixtures_of_other_patches_and_leaves_the_rest_alone():
    mix, target, other = batch()
    m2, t2, o2 = remix(mix, target, other, torch.Generator().manual_seed(3), share=0.5)
    changed = [i for i in range(len(mix)) if not torch.equal(m2[i], mix[i])]
    assert len(changed) == 4
    for i in range(len(mix)):
        if i not in changed:  # bit for bit
            assert torch.equal(t2[i], target[i]) and torch.equal(o2[i], other[i])
            continue
        torch.testing.assert_close(m2[i], t2[i] + o2[i], rtol=0, atol=1e-6)  # the remixed mix is their sum
        assert float(m2[i].max()) <= 1.0 + 1e-6
        # the target is this patch's own target, up to the common normalisation ...
        ratio = t2[i].sum() / target[i].sum()
        torch.testing.assert_close(t2[i], target[i] * ratio, rtol=1e-5, atol=1e-7)
        # ... and the other source is another patch's, never its own
        sources = [j for j in range(len(mix)) if j != i
                   and torch.allclose(o2[i] / o2[i].sum(), other[j] / other[j].sum(), atol=1e-7)]
        assert len(sources) == 1
        # an ideal mask in [0, 1] reaches the target exactly
        mask = t2[i] / m2[i].clamp(min=1e-12)
        assert float(mask.max()) <= 1 + 1e-6


def test_random_gain_scales_mix_and_targets_alike_within_the_range():
    mix, target, other = batch()
    m2, t2, o2 = random_gain(mix, target, other, torch.Generator().manual_seed(1), -12.0, 0.0)
    g = (m2.flatten(1).sum(1) / mix.flatten(1).sum(1))
    assert float(g.min()) >= 10 ** (-12 / 20) - 1e-6 and float(g.max()) <= 1 + 1e-6
    assert float(g.max() - g.min()) > 0.1  # per patch, not one gain for the batch
    for i in range(len(mix)):
        torch.testing.assert_close(t2[i], target[i] * g[i], rtol=1e-5, atol=1e-8)
        torch.testing.assert_close(o2[i], other[i] * g[i], rtol=1e-5, atol=1e-8)


def test_augment_is_a_function_of_seed_and_step():
    mix, target, other = batch()
    aug = Augment(remix_share=0.5, gain_db=(-6.0, 0.0))
    a = aug(mix, target, other, step_generator(0, 17))
    b = aug(mix, target, other, step_generator(0, 17))
    c = aug(mix, target, other, step_generator(0, 18))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    assert not Augment().enabled and Augment(gain_db=(-3.0, 0.0)).enabled and not Augment(gain_db=(-3.0, 0.0)).needs_other


def test_learning_rate_schedules():
    assert lr_at(0, 1e-3, 100) == lr_at(99, 1e-3, 100) == 1e-3
    assert lr_at(0, 1e-3, 100, "cosine", warmup_steps=10) == pytest.approx(1e-4)
    assert lr_at(9, 1e-3, 100, "cosine", warmup_steps=10) == pytest.approx(1e-3)
    assert lr_at(10, 1e-3, 100, "cosine", warmup_steps=10) == pytest.approx(1e-3)
    assert lr_at(55, 1e-3, 100, "cosine", warmup_steps=10) == pytest.approx(1e-3 * (MIN_RATIO + (1 - MIN_RATIO) / 2))
    assert lr_at(100, 1e-3, 100, "cosine") == pytest.approx(MIN_RATIO * 1e-3)
    values = [lr_at(s, 1e-3, 100, "cosine") for s in range(101)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert math.isclose(lr_at(500, 1e-3, 100, "cosine"), MIN_RATIO * 1e-3)


@pytest.mark.parametrize("method", ["sum-to-one", "wiener"])
def test_combined_masks_sum_to_one_and_follow_the_stronger_model(method):
    rng = np.random.default_rng(0)
    mv, mi = rng.uniform(0, 1, (513, 20)).astype(np.float32), rng.uniform(0, 1, (513, 20)).astype(np.float32)
    mv[0, 0] = mi[0, 0] = 0.0
    v, i = combine_masks(mv, mi, method)
    np.testing.assert_allclose(v + i, 1.0, atol=1e-6)
    assert v[0, 0] == pytest.approx(0.5)
    p = 2 if method == "wiener" else 1
    np.testing.assert_allclose(v[1:], (mv[1:] ** p / (mv[1:] ** p + mi[1:] ** p)), rtol=1e-5)
    assert combine_masks(mv, mi, "independent")[0] is mv


def test_resume_changes_listed_by_name():
    old = TrainConfig(shards_dir="s", run_dir="r").to_dict()
    new = TrainConfig(shards_dir="s", run_dir="r", lr=1e-2, batch_size=4, max_steps=5, device="cpu").to_dict()
    assert run_changes(old, new) == ["--batch-size: 16 -> 4", "--lr: 0.0001 -> 0.01"]
    assert run_changes(old, TrainConfig(shards_dir="other", run_dir="r").to_dict(), "abc", "abc") == []
    assert run_changes(old, old, "abc", "def") == ["--shards: s (build abc) -> s (build def)"]
