"""Training-time augmentation of magnitude patches: one small function per idea, composed by ``Augment``.

Every function takes the batch's three magnitude tensors, each float32 ``[batch, 1, 512, 128]`` and divided by
its track's maximum as the shards store them:

- ``mix``: the mixture X,
- ``target``: what the model learns (the vocal target ``max(0, X - Y_i)`` or the instrumental ``Y_i``),
- ``other``: the complementary source (the instrumental when the target is the vocals, and vice versa),

and returns new ``(mix, target, other)``. What every function keeps (and the tests check): the targets stay
consistent with the mix. A gain scales the three alike (the ideal mask is unchanged); a remixed patch is exactly
``mix = target + other`` with both sources taken unchanged (up to one common gain) from the shards, so its
target is reachable by a mask in [0, 1]; patches left alone are returned bit for bit.

Randomness comes only from the ``torch.Generator`` passed in; ``train`` seeds one per step from
``(seed, step)``, so a resumed run draws the same augmentations as an uninterrupted one.

**The remix approximation.** Remixing pairs one patch's target with another patch's complementary source
(demucs' ``Remix``, open-unmix's ``random_track_mix``) and sums them *in the magnitude domain*:
``|X'| = |V_a| + |I_b|``. The true mixture of those two signals would be ``|V_a + I_b|``, which lies between
``||V_a| - |I_b||`` and ``|V_a| + |I_b|`` bin by bin depending on the phases; the sum is its upper bound, right
where one source dominates a bin (most bins of music) and too loud where both are comparable. The shards carry
magnitudes only, so remixing from audio would need the pairs' audio at training time; the magnitude sum is the
approximation open-unmix-style magnitude models accept. The un-remixed share of each batch keeps real mixtures.

``Augment`` is also the augmentation part of ``training.config.TrainConfig``, whose settings the ``train``
command's options are derived from; so that ``train --help`` starts without loading torch (seconds), this
module imports torch in the functions that compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vocalmine.errors import UserInputError
from vocalmine.settings import check, setting

if TYPE_CHECKING:
    import torch

    Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def random_gain(mix: torch.Tensor, target: torch.Tensor, other: torch.Tensor, gen: torch.Generator,
                low_db: float = -12.0, high_db: float = 0.0) -> Tensors:
    """Scale each patch (all three tensors alike) by a gain drawn uniformly in [low_db, high_db] dB.

    The paper's loss ``|mask * X - Y|`` is scale-equivariant, so the ideal mask is unchanged; the model sees
    quieter inputs than the track-normalised ones (a patch of a quiet passage, a song mastered low).
    """
    import torch  # start-up speed: see the module doc

    db = torch.empty(mix.shape[0], 1, 1, 1).uniform_(low_db, high_db, generator=gen).to(mix.device)
    g = 10.0 ** (db / 20.0)
    return mix * g, target * g, other * g


def remix(mix: torch.Tensor, target: torch.Tensor, other: torch.Tensor, gen: torch.Generator,
          share: float = 0.5, low_db: float = -6.0, high_db: float = 6.0) -> Tensors:
    """Replace ``share`` of the batch by new mixtures: the patch's own target plus another patch's ``other``
    (a random derangement within the batch), that source scaled by a gain in [low_db, high_db] dB, in the
    magnitude domain (see the module doc). The result is divided by its maximum when it exceeds 1, so remixed
    patches stay in the shards' [0, 1] range. Patches not chosen are returned unchanged.
    """
    import torch  # start-up speed: see the module doc

    b = mix.shape[0]
    n = int(round(share * b))
    if b < 2 or n == 0:
        return mix, target, other
    chosen = torch.randperm(b, generator=gen)[:n]
    # A derangement of the batch: shift a random permutation by one, so no patch is paired with itself.
    perm = torch.randperm(b, generator=gen)
    partner = torch.empty(b, dtype=torch.long)
    partner[perm] = perm.roll(1)
    db = torch.empty(n, 1, 1, 1).uniform_(low_db, high_db, generator=gen)
    chosen_d, partner_d = chosen.to(mix.device), partner[chosen].to(mix.device)
    new_other = other[partner_d] * (10.0 ** (db / 20.0)).to(mix.device)
    new_target = target[chosen_d]
    new_mix = new_target + new_other
    peak = new_mix.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1.0)
    mix, target, other = mix.clone(), target.clone(), other.clone()
    mix[chosen_d], target[chosen_d], other[chosen_d] = new_mix / peak, new_target / peak, new_other / peak
    return mix, target, other


@dataclass(frozen=True)
class Augment:
    """The augmentations of a run, applied in order: remix (``remix_share`` of each batch; 0 = off), then
    random gain (``gain_db`` = (low, high); (0, 0) = off)."""

    remix_share: float = setting(0.0, "Share of each batch remixed: a patch's target plus another patch's other "
                                 "source (magnitudes).", low=0.0, high=1.0)
    gain_db: tuple[float, float] = setting((0.0, 0.0), "Random gain per patch, uniform in [LOW, HIGH] dB "
                                           "(e.g. -12,0; 0,0: off).", metavar="LOW,HIGH")

    def __post_init__(self) -> None:
        object.__setattr__(self, "gain_db", tuple(float(g) for g in self.gain_db))
        check(self)
        if len(self.gain_db) != 2 or self.gain_db[0] > self.gain_db[1] or self.gain_db[1] > 0:
            raise UserInputError(f"--gain-db must be LOW,HIGH with LOW <= HIGH <= 0, got {self.gain_db}")

    @property
    def enabled(self) -> bool:
        return self.remix_share > 0 or self.gain_db != (0.0, 0.0)

    @property
    def needs_other(self) -> bool:
        """Whether the batch must carry the complementary source (the remix does)."""
        return self.remix_share > 0

    def __call__(self, mix: torch.Tensor, target: torch.Tensor, other: torch.Tensor | None,
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mix, target)`` augmented; ``other`` may be None when ``needs_other`` is False."""
        import torch  # start-up speed: see the module doc

        if other is None:
            other = torch.clamp(mix - target, min=0)  # unused by the gain; keeps one signature
        if self.remix_share > 0:
            mix, target, other = remix(mix, target, other, gen, share=self.remix_share)
        if self.gain_db != (0.0, 0.0):
            mix, target, other = random_gain(mix, target, other, gen, *self.gain_db)
        return mix, target


def step_generator(seed: int, step: int) -> torch.Generator:
    """The augmentation generator of one training step: a function of ``(seed, step)`` only (exact resume)."""
    import torch  # start-up speed: see the module doc

    return torch.Generator().manual_seed((seed * 1_000_003 + step) % (2**63))
