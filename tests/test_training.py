"""The U-Net's architecture, a training step, checkpoints and exact resume, logs, and bad inputs of `train`.

Shards here are small real Parquet files in the SHARD schema cut from synthetic signals (``support.training``).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from features.patches import PatchParams
from training.checkpoint import load_checkpoint
from training.model import UNet, UNetConfig, count_parameters, masked_l1_loss
from training.distributed import Compute, state_digest
from training.train import TrainConfig, train
from commands.train import main as train_main
from support.training import expected_position, write_shards
from support.training import tiny_train_config as _config


@pytest.fixture(scope="module")
def shards(tiny_shards) -> Path:
    """The shared synthetic shard set (tests/conftest.py): 3 pairs x 3 patches = 9 train patches in row groups of
    2 (5 row groups); 1 pair of valid."""
    return tiny_shards


# ------------------------------------------------------------------------------------------ architecture


def expected_parameters(skip: bool) -> int:
    """Parameter count from the paper's description, computed by hand (weights + biases + BatchNorm affine)."""
    ch = [1, 16, 32, 64, 128, 256, 512]
    total = 0
    for cin, cout in zip(ch[:-1], ch[1:]):  # encoder: conv + BN
        total += cin * cout * 25 + cout + 2 * cout
    outs = [256, 128, 64, 32, 16, 1]
    cin = 512
    for i, cout in enumerate(outs):
        if skip and i > 0:
            cin += ch[6 - i]  # the encoder output of the same size
        total += cin * cout * 25 + cout + (2 * cout if i < 5 else 0)
        cin = cout
    return total


def test_unet_parameter_count_matches_the_paper():
    unet, base = UNet(UNetConfig.for_arch("unet")), UNet(UNetConfig.for_arch("baseline"))
    assert count_parameters(unet) == expected_parameters(True) == 9_823_313  # "about 9.8 million"
    assert count_parameters(base) == expected_parameters(False) == 8_734_913


def test_layer_shapes_skips_and_mask_range():
    shapes: dict[str, tuple] = {}
    model = UNet().eval()
    hooks = [layer.register_forward_hook(lambda m, i, o, name=f"enc{k + 1}": shapes.__setitem__(name, (tuple(i[0].shape), tuple(o.shape))))
             for k, layer in enumerate(model.encoder)]
    hooks += [layer.register_forward_hook(lambda m, i, o, name=f"dec{k + 1}": shapes.__setitem__(name, (tuple(i[0].shape), tuple(o.shape))))
              for k, layer in enumerate(model.decoder)]
    x = torch.rand(2, 1, 512, 128)
    with torch.no_grad():
        mask = model(x)
    for h in hooks:
        h.remove()
    enc = [(16, 256, 64), (32, 128, 32), (64, 64, 16), (128, 32, 8), (256, 16, 4), (512, 8, 2)]
    for k, (c, f, t) in enumerate(enc):
        assert shapes[f"enc{k + 1}"][1] == (2, c, f, t)
    # Decoder inputs carry the concatenated encoder output (skip): channels double except for the first.
    dec_in = [(512, 8, 2), (512, 16, 4), (256, 32, 8), (128, 64, 16), (64, 128, 32), (32, 256, 64)]
    dec_out = [(256, 16, 4), (128, 32, 8), (64, 64, 16), (32, 128, 32), (16, 256, 64), (1, 512, 128)]
    for k in range(6):
        assert shapes[f"dec{k + 1}"] == ((2, *dec_in[k]), (2, *dec_out[k]))
    assert mask.shape == x.shape and float(mask.min()) > 0 and float(mask.max()) < 1


@pytest.mark.slow
def test_baseline_has_no_skips():
    base = UNet(UNetConfig.for_arch("baseline"))
    unet = UNet(UNetConfig.for_arch("unet"))
    assert [layer[0].in_channels for layer in base.decoder] == [512, 256, 128, 64, 32, 16]
    assert [layer[0].in_channels for layer in unet.decoder] == [512, 512, 256, 128, 64, 32]
    # Functionally: zero the first encoder layer's output where the decoder would take it as a skip. The U-Net's
    # mask changes; the baseline's cannot (it sees that layer only through the deeper layers, left intact).
    x = torch.rand(1, 1, 512, 128)
    for model, has_skips in ((unet, True), (base, False)):
        model.eval()
        with torch.no_grad():
            ref = model(x)
            skips, h = [], x
            for layer in model.encoder:
                h = layer(h)
                skips.append(h)
            skips[0] = torch.zeros_like(skips[0])
            out = h
            for i, layer in enumerate(model.decoder):
                if i > 0 and model.config.skip:
                    out = torch.cat([out, skips[-1 - i]], dim=1)
                out = layer(out)
        assert torch.equal(out, ref) is (not has_skips)


def test_dropout_only_in_the_first_three_decoder_layers():
    model = UNet()
    where = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Dropout)]
    assert where == ["decoder.0.3", "decoder.1.3", "decoder.2.3"]
    assert all(m.p == 0.5 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.encoder.modules())
    assert isinstance(model.decoder[-1][-1], torch.nn.Sigmoid)
    leaky = [m.negative_slope for m in model.encoder.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert leaky == [0.2] * 6
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert all(c.kernel_size == (5, 5) and c.stride == (2, 2) for c in convs) and len(convs) == 12


@pytest.mark.slow
def test_adam_steps_lower_the_loss_on_a_fixed_batch(shards):
    from features.reader import ShardDataset

    ds = ShardDataset(shards, "train", columns=("mix", "vocals"))
    pb = next(ds.iter_batches())
    x = torch.tensor(pb.arrays["mix"][:, None]).float()
    y = torch.tensor(pb.arrays["vocals"][:, None]).float()
    torch.manual_seed(0)
    model = UNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(6):
        loss = masked_l1_loss(model(x), x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    # The paper's learning rate, a fixed batch and seed: every step lowers the loss, six steps by over 5 %.
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.95 * losses[0], losses


# ------------------------------------------------------------------------------------------ train, resume


@pytest.mark.slow
def test_resumed_run_matches_uninterrupted_run(shards, tmp_path, tiny_model):
    straight = tiny_model.result  # the shared run (tests/conftest.py): _config(shards, ..., max_steps=4)
    half = train(_config(shards, tmp_path / "resumed", max_steps=2))
    assert half.steps == 2
    ck2 = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)  # plain data only
    # Three loader threads take turns: after 2 steps threads 0 and 1 have each delivered one batch of 3 patches
    # from their own share of the reader's (seed 3) row-group order, thread 2 none; the next batch is thread 2's.
    assert ck2["data_position"] == [{"next_worker": 2, "workers": [
        expected_position(shards, seed=3, patches=p, worker=w, num_workers=3) for w, p in enumerate((3, 3, 0))]}]
    assert set(ck2["rng"][0]) >= {"torch", "numpy", "python"}
    resumed = train(_config(shards, tmp_path / "resumed", max_steps=4, resume=True))
    assert resumed.start_step == 2 and resumed.steps == 4

    a = load_checkpoint(tiny_model.run_dir, target="vocals", arch="unet", which="latest")
    b = load_checkpoint(tmp_path / "resumed", target="vocals", arch="unet", which="latest")
    assert a["step"] == b["step"] == 4
    for name, t in a["model"].items():
        assert torch.allclose(t.float(), b["model"][name].float(), atol=1e-6, rtol=0), name
    assert state_digest(a["model"]) == straight.weight_digests[0] == resumed.weight_digests[0]
    # 4 steps: threads 0, 1, 2, 0 -> 6, 3, 3 patches (thread 0's share has 3 or 4 an epoch: into epoch 1).
    assert b["data_position"] == [{"next_worker": 1, "workers": [
        expected_position(shards, seed=3, patches=p, worker=w, num_workers=3) for w, p in enumerate((6, 3, 3))]}]
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"] == 4

    # Logs: one CSV row per step, none duplicated by the resume; validation at steps 2 and 4; TensorBoard.
    with open(tmp_path / "resumed" / "train_log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert [bool(r["valid_loss"]) for r in rows] == [False, True, False, True]
    assert all(float(r["patches_per_s"]) > 0 and 0 <= float(r["data_wait_share"]) <= 1 for r in rows)
    assert all(float(r["lr"]) == 1e-4 for r in rows)
    assert list((tmp_path / "resumed" / "tensorboard").glob("events.out.tfevents.*"))
    summary = json.loads((tmp_path / "resumed" / "train_summary.json").read_text())
    assert summary["steps"] == 4 and summary["world_size"] == 1 and summary["loader_threads"] == 3
    assert [s for s, _ in summary["valid_history"]] == [2, 4]  # the whole run's, carried by the checkpoint
    # A resume with nothing left to do trains nothing and leaves the summary as it was.
    before = (tmp_path / "resumed" / "train_summary.json").read_text()
    again = train(_config(shards, tmp_path / "resumed", max_steps=4, resume=True))
    assert again.steps == again.start_step == 4 and again.last_loss == summary["last_loss"]
    assert (tmp_path / "resumed" / "train_summary.json").read_text() == before


# ------------------------------------------------------------------------------------------ bad inputs


def _run(args: list[str]):
    return CliRunner().invoke(train_main, args)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_bad_inputs_give_one_clear_error(shards, tmp_path):
    run = tmp_path / "run"
    base = ["--shards", str(shards), "-o", str(run), "--device", "cpu", "--no-progress", "--batch-size", "2"]

    # A missing split: the valid split is needed unless --valid-every 0.
    no_valid = write_shards(tmp_path / "novalid", {"train": 1})
    r = _run(["--shards", str(no_valid), "-o", str(run), "--device", "cpu"])
    assert r.exit_code == 2 and "split 'valid' is not in" in r.output

    empty = write_shards(tmp_path / "empty", {"train": 0, "valid": 1})
    r = _run(["--shards", str(empty), "-o", str(run), "--device", "cpu"])
    assert r.exit_code == 2 and "split 'train'" in r.output and "is empty" in r.output

    other_rate = dict(PatchParams().as_dict(), sample_rate=16000)
    wrong = write_shards(tmp_path / "rate", {"train": 1, "valid": 1}, manifest_params=other_rate)
    r = _run(["--shards", str(wrong), "-o", str(run), "--device", "cpu"])
    assert r.exit_code == 2 and "sample_rate=16000" in r.output

    other_shape = dict(PatchParams().as_dict(), tensor_shape=[512, 64])
    wrong = write_shards(tmp_path / "shape", {"train": 1, "valid": 1}, manifest_params=other_shape)
    r = _run(["--shards", str(wrong), "-o", str(run), "--device", "cpu"])
    assert r.exit_code == 2 and "patch shape is [512, 64]" in r.output

    r = _run(base + ["--resume", "--max-steps", "1"])
    assert r.exit_code == 2 and "no checkpoint" in r.output

    r = _run(base + ["--max-steps", "1", "--valid-every", "0"])
    assert r.exit_code == 0, r.output
    r = _run(base + ["--max-steps", "2"])
    assert r.exit_code == 2 and "already holds a checkpoint; pass --resume" in r.output

    r = _run(base + ["--resume", "--max-steps", "2", "--target", "instrumental"])
    assert r.exit_code == 2 and "checkpoint of another model: target 'vocals' (expected 'instrumental')" in r.output
    r = _run(base + ["--resume", "--max-steps", "2", "--arch", "baseline"])
    assert r.exit_code == 2 and "architecture 'unet' (expected 'baseline')" in r.output
    assert "Traceback" not in r.output

    # A file that is not a checkpoint (a pickle with code in it is refused by weights_only loading).
    import pickle

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "checkpoint.pt").write_bytes(pickle.dumps({"format": "x", "f": print}))
    r = _run(["--shards", str(shards), "-o", str(bad), "--device", "cpu", "--resume"])
    assert r.exit_code == 2 and "is not a safe vocalmine checkpoint" in r.output and "weights_only" not in r.output


@pytest.mark.slow
def test_validation_runs_every_valid_every_steps_even_between_log_rows(shards, tmp_path):
    # --valid-every 3 with --log-every 2: validation at step 3 (no log row due) and at the last step, 4.
    result = train(_config(shards, tmp_path / "run", max_steps=4, valid_every=3, log_every=2, checkpoint_every=10,
                           loader_threads=1, tensorboard=False))
    assert [s for s, _ in result.valid_history] == [3, 4]
    with open(tmp_path / "run" / "train_log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(int(r["step"]), bool(r["valid_loss"])) for r in rows] == [(2, False), (3, True), (4, True)]


@pytest.mark.slow
def test_bf16_autocast_and_channels_last_run_on_the_cpu(shards, tmp_path):
    # What CUDA takes by default (bf16 autocast, channels-last tensors), asked for on the CPU: the GPU's code
    # path runs before it first meets a GPU. The default on the CPU stays fp32, contiguous.
    cpu = torch.device("cpu")
    assert Compute.resolve(cpu) == Compute(cpu, "fp32", False)
    compute = Compute.resolve(cpu, "bf16", True)
    model = compute.model(UNet(UNetConfig()))
    x = compute.batch(torch.rand(2, 1, 512, 128, dtype=torch.float16))
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    with compute.autocast():
        assert model(x).dtype == torch.bfloat16

    run = tmp_path / "run"
    r = _run(["--shards", str(shards), "-o", str(run), "--device", "cpu", "--no-progress", "--batch-size", "2",
              "--max-steps", "3", "--valid-every", "3", "--valid-patches", "2", "--log-every", "1",
              "--precision", "bf16", "--channels-last"])
    assert r.exit_code == 0, r.output
    assert "(bf16)" in r.output
    ckpt = load_checkpoint(run, target="vocals", which="latest")
    assert ckpt["precision"] == "bf16" and ckpt["channels_last"] is True
    assert math.isfinite(ckpt["last_loss"]) and math.isfinite(ckpt["best_valid_loss"])
    assert "precision" not in ckpt["train_config"]  # the recorded config keeps the keys it always had
    with open(run / "train_log.csv") as fh:
        assert all(math.isfinite(float(row["loss"])) for row in csv.DictReader(fh))
    assert json.loads((run / "train_summary.json").read_text())["precision"] == "bf16"
