"""build-shards on generated pairs: the numbers in the shards, the split, the manifest, skips, re-runs, the CLI,
and the same dataset from a real dask.distributed LocalCluster."""

from __future__ import annotations

import json
from pathlib import Path

import librosa
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from catalog_schemas import PAIRS, SHARD
from features.audio import file_sha1
from features.patches import PatchParams, patch_starts
from features.shard_config import ROW_BYTES, ShardConfig
from features.shards import build_shards
from features.splits import SPLITS, PairKeys, SplitConfig, assign_splits
from support.synthetic_pairs import (
    SongSpec, default_specs, reference_magnitude, stored_tensor, vocal_distance, write_pairs,
)
from commands.shards import main as cli_main
from vocalmine.errors import UserInputError

CONFIG = ShardConfig(row_group_size=2, shard_bytes=5 * ROW_BYTES)  # 4 rows per shard: several shards per split


def _all_rows(out: Path) -> pa.Table:
    files = sorted(out.glob("*/part-*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])


def _rows_of(table: pa.Table, pair_id: str) -> pa.Table:
    sub = table.filter(pc.equal(table["pair_id"], pair_id))
    return sub.take(pc.sort_indices(sub["start_frame"]))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    specs = default_specs()
    pairs_dir = write_pairs(root, specs)
    summary = build_shards(pairs_dir, root / "out", CONFIG, progress=False)
    return root, specs, pairs_dir, root / "out", summary


def test_mix_equals_an_independent_stft_of_the_original(built):
    root, specs, _, out, _ = built
    rows = _all_rows(out)
    checked = 0
    for spec in specs:
        if spec.status != "accepted" or spec.missing_instrumental:
            continue
        path = root / "audio" / f"{spec.original_id}.wav"
        # An independent decode + resample + mono path: librosa.load (soxr_hq), then librosa's STFT.
        signal, _ = librosa.load(path, sr=8192, mono=True, res_type="soxr_hq")
        ref = reference_magnitude(signal)
        sub = _rows_of(rows, spec.pair_id)
        frames = 1 + (len(signal) + 512) // 768
        # A negative offset: the instrumental lacks the song's first |offset_s|; the first frame whose window
        # starts after that gap is the first patch's.
        gap = max(0, -round(spec.offset_s * 8192))
        k0 = 0 if gap == 0 else min(k for k in range(frames) if k * 768 - 512 >= gap)
        assert sub["start_frame"].to_pylist() == (k0 + patch_starts(frames - k0, 128, 128)).tolist()
        scale = sub["scale"].to_numpy()
        assert np.allclose(scale, ref.max(), rtol=1e-4), (spec.pair_id, scale, ref.max())
        mix = stored_tensor(sub, "mix")
        for patch, start in zip(mix, sub["start_frame"].to_pylist()):
            n = min(128, ref.shape[1] - start)
            expected = ref[:, start : start + n] / scale[0]
            # float16 keeps 11 significant bits: half an ulp is <= 2**-12 of a value in [0.5, 1].
            np.testing.assert_allclose(patch[:, :n], expected, rtol=2**-10, atol=2**-14)
            assert np.all(patch[:, ref.shape[1] - start + 1 :] == 0)  # zero padding past the track's end
            checked += 1
    assert checked == 9


def test_instrumental_is_the_accompaniment_aligned_and_vocals_the_rectified_difference(built):
    root, specs, _, out, _ = built
    rows = _all_rows(out)
    for spec in specs:
        if spec.status != "accepted" or spec.missing_instrumental:
            continue
        sub = _rows_of(rows, spec.pair_id)
        mix, inst, voc = (stored_tensor(sub, n) for n in ("mix", "instrumental", "vocals"))
        # vocals == max(0, mix - instrumental), up to the float16 rounding of the three stored values.
        np.testing.assert_allclose(voc, np.maximum(mix - inst, 0), atol=1.5e-3)
        assert np.all(voc >= 0) and mix.max() == 1.0
        energy = sub["vocal_energy"].to_numpy()
        np.testing.assert_allclose(energy, (voc**2).sum(axis=(1, 2)) / (mix**2).sum(axis=(1, 2)), rtol=5e-3)
        if spec.original_rate != 8192 or spec.instrumental_rate != 8192 or spec.offset_s < 0:
            continue
        # At 8192 Hz with a non-negative offset the aligned instrumental is exactly the accompaniment stem
        # (shifted back by offset_s, divided by polarity * gain).
        acc = np.load(root / "stems" / f"{spec.original_id}_accompaniment.npy")
        ref = reference_magnitude(acc)
        scale = sub["scale"].to_numpy()[0]
        for patch, start in zip(inst, sub["start_frame"].to_pylist()):
            n = min(128, ref.shape[1] - start)
            np.testing.assert_allclose(patch[:, :n] * scale, ref[:, start : start + n], rtol=2e-3, atol=2e-3 * scale)


def _vocal_error(root: Path, rows: pa.Table, pair_id: str, original_id: str) -> float:
    """Relative Frobenius distance of the stored vocal target (rescaled) to the true vocal stem's magnitude."""
    ref = reference_magnitude(np.load(root / "stems" / f"{original_id}_vocals.npy"))
    return vocal_distance(_rows_of(rows, pair_id), ref)


def test_aligned_vocals_match_the_true_stem_and_misaligned_do_not(tmp_path):
    specs = [
        SongSpec("a1", "a1i", "A", seconds=14.0, offset_s=0.5, gain_db=-2.0),
        SongSpec("b1", "b1i", "B", seconds=14.0, offset_s=0.3, gain_db=2.0, polarity=-1, original_rate=44100,
                 instrumental_rate=48000, stereo=True),
    ]
    pairs_dir = write_pairs(tmp_path, specs)
    table = pq.read_table(pairs_dir / "pairs.parquet").to_pylist()
    wrong = []
    for row in table:  # the same pairs, 0.25 s off
        bad = dict(row, pair_id=row["pair_id"] + "-shifted", offset_s=row["offset_s"] + 0.25)
        wrong.append(bad)
    pq.write_table(pa.Table.from_pylist(table + wrong, schema=PAIRS), pairs_dir / "pairs.parquet")
    build_shards(pairs_dir, tmp_path / "out", ShardConfig(split=SplitConfig((1, 0, 0))), progress=False)
    rows = _all_rows(tmp_path / "out")
    for spec in specs:
        good = _vocal_error(tmp_path, rows, spec.pair_id, spec.original_id)
        bad = _vocal_error(tmp_path, rows, spec.pair_id + "-shifted", spec.original_id)
        assert good < 0.2, (spec.pair_id, good)
        assert bad > 0.45, (spec.pair_id, bad)


def test_only_frames_the_instrumental_covers_give_patches(tmp_path):
    specs = [
        SongSpec("s1", "s1i", "A", seconds=30.0, offset_s=0.4, trim_end_s=4.0),  # instrumental 4 s shorter
        SongSpec("s2", "s2i", "B", seconds=10.0, offset_s=0.2),
        SongSpec("s3", "s3i", "C", seconds=6.0, offset_s=-9.0),  # the instrumental covers nothing of the song
    ]
    pairs_dir = write_pairs(tmp_path, specs)
    summary = build_shards(pairs_dir, tmp_path / "out", ShardConfig(split=SplitConfig((1, 0, 0))), progress=False)
    assert summary.skipped == [("s3~s3i", "no-overlap")]
    sub = _rows_of(_all_rows(tmp_path / "out"), "s1~s1i")
    end = 26 * 8192  # covered samples [0, 26 s) of the original's timeline
    last = max(k for k in range(400) if k * 768 + 512 <= end)  # the last frame whose window is covered
    assert sub["start_frame"].to_pylist() == [0, 128, last + 1 - 128]
    assert summary.splits["train"].seconds == pytest.approx(26 + 10, abs=1e-3)
    assert _vocal_error(tmp_path, sub, "s1~s1i", "s1") < 0.2


def test_split_keeps_artists_and_content_groups_whole(built):
    _, specs, _, out, summary = built
    manifest = json.loads((out / "manifest.json").read_text())
    by_pair = {s.pair_id: s for s in specs}
    seen_artist: dict[str, str] = {}
    seen_group: dict[str, str] = {}
    for split in SPLITS:
        ids = manifest["splits"][split]["pair_ids"]
        assert ids, f"{split} is empty"
        assert set(ids) <= set(_all_rows(out)["pair_id"].to_pylist())
        for pid in ids:
            spec = by_pair[pid]
            group = spec.content_group or spec.original_id
            assert seen_artist.setdefault(spec.artist, split) == split, spec.artist
            assert seen_group.setdefault(group, split) == split, group
        for shard in manifest["splits"][split]["shards"]:
            assert set(pq.read_table(out / shard["path"], columns=["pair_id"])["pair_id"].to_pylist()) <= set(ids)
    # d1 (Delta) and e1 (Epsilon) share a content group: same split though different artists.
    split_of = {pid: s for s in SPLITS for pid in manifest["splits"][s]["pair_ids"]}
    assert split_of["d1~d1i"] == split_of["e1~e1i"]
    assert split_of["a1~a1i"] == split_of["a2~a2i"]


def test_assign_splits_is_deterministic_stable_and_fills_every_split():
    keys = [PairKeys(f"p{i}", f"artist{i // 2}", f"g{i}") for i in range(2000)]
    first = assign_splits(keys, SplitConfig((0.8, 0.1, 0.1), seed=3))
    assert first == assign_splits(list(reversed(keys)), SplitConfig((0.8, 0.1, 0.1), seed=3))
    shares = {s: sum(v == s for v in first.values()) / len(first) for s in SPLITS}
    assert 0.76 < shares["train"] < 0.84 and 0.07 < shares["valid"] < 0.13 and 0.07 < shares["test"] < 0.13
    assert all(first[f"p{2 * a}"] == first[f"p{2 * a + 1}"] for a in range(1000))
    # Adding artists never moves the existing ones.
    more = assign_splits(keys + [PairKeys(f"q{i}", f"new{i}") for i in range(100)], SplitConfig(seed=3))
    assert all(more[k] == v for k, v in first.items())
    assert first != assign_splits(keys, SplitConfig(seed=4))
    # A content group spanning artists links them (transitively).
    linked = assign_splits([PairKeys("x", "A", "g"), PairKeys("y", "B", "g"), PairKeys("z", "B", "h")]
                           + [PairKeys(f"o{i}", f"other{i}") for i in range(50)], SplitConfig(seed=0))
    assert linked["x"] == linked["y"] == linked["z"]
    # Three artists are enough for three non-empty splits, whatever the seed.
    for seed in range(40):
        three = assign_splits([PairKeys(f"p{i}", f"a{i}") for i in range(3)], SplitConfig(seed=seed))
        assert sorted(three.values()) == sorted(SPLITS), (seed, three)


def test_manifest_lists_every_shard_with_rows_and_checksum(built):
    _, _, pairs_dir, out, summary = built
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["pairs_sha1"] == file_sha1(pairs_dir / "pairs.parquet")
    assert manifest["source"]["accepted_pairs"] == 8
    assert manifest["params"]["sample_rate"] == 8192 and manifest["params"]["hop"] == 768
    assert manifest["params"]["tensor_shape"] == [512, 128] and manifest["params"]["normalisation"] == "track"
    assert manifest["code_version"].startswith("0.")
    listed = set()
    for split in SPLITS:
        info = manifest["splits"][split]
        total = 0
        for shard in info["shards"]:
            path = out / shard["path"]
            listed.add(path)
            meta = pq.read_metadata(path)
            assert shard["rows"] == meta.num_rows <= 4 and shard["row_groups"] == meta.num_row_groups
            assert all(meta.row_group(i).num_rows <= 2 for i in range(meta.num_row_groups))
            assert shard["sha1"] == file_sha1(path) and shard["bytes"] == path.stat().st_size
            assert pq.read_schema(path).field("mix").metadata[b"shape"] == b"512,128"
            # Dictionary encoding is off for the tensor columns.
            col = meta.row_group(0).column(4)
            assert col.path_in_schema == "mix" and "PLAIN_DICTIONARY" not in col.encodings
            assert "RLE_DICTIONARY" not in col.encodings and col.statistics is None
            total += shard["rows"]
        assert total == info["patches"] == summary.splits[split].patches
        assert info["seconds"] == pytest.approx(summary.splits[split].seconds)
    assert listed == set(out.glob("*/part-*.parquet"))
    # Seconds of the originals covered by their instrumentals (b1's lacks its first 0.3 s).
    assert manifest["totals"]["seconds"] == pytest.approx(14 + 9 + (13 - 0.3) + 10 + 8 + 8 + 9, abs=1e-3)
    assert not (out / ".work").exists()
    assert pq.read_schema(next(iter(listed))).remove_metadata().equals(SHARD.remove_metadata())


def test_a_failing_pair_is_skipped_with_its_reason(built):
    _, _, _, out, summary = built
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(s["pair_id"], s["reason"]) for s in manifest["skipped"]] == [("g1~g1i", "missing-file")]
    assert "g1i.wav" in manifest["skipped"][0]["detail"]
    assert summary.skipped == [("g1~g1i", "missing-file")]
    ids = set(_all_rows(out)["pair_id"].to_pylist())
    assert "g1~g1i" not in ids and "f2~f2i" not in ids  # skipped, and rejected by pairing
    assert len(ids) == 7


def test_rerun_is_a_noop_and_parts_are_reused(built, tmp_path):
    root, _, pairs_dir, out, summary = built
    again = build_shards(pairs_dir, out, CONFIG, progress=False)
    assert again.up_to_date and again.patches == summary.patches and again.skipped == summary.skipped
    # With keep_work, a build with another seed reuses every pair's patches and re-cuts the shards.
    first = build_shards(pairs_dir, tmp_path / "o", ShardConfig(keep_work=True), progress=False)
    assert first.computed_pairs == 7
    second = build_shards(pairs_dir, tmp_path / "o", ShardConfig(split=SplitConfig(seed=5), keep_work=True), progress=False)
    assert second.computed_pairs == 0 and second.reused_pairs == 7 and second.patches == first.patches


def test_patch_starts_cover_every_frame():
    assert patch_starts(256, 128, 128).tolist() == [0, 128]
    assert patch_starts(300, 128, 128).tolist() == [0, 128, 172]  # the last one aligned to the end
    assert patch_starts(300, 128, 64).tolist() == [0, 64, 128, 172]
    assert patch_starts(128, 128, 128).tolist() == [0] and patch_starts(5, 128, 128).tolist() == [0]


def test_patch_normalisation(built, tmp_path):
    root, _, pairs_dir, _, summary = built
    result = build_shards(pairs_dir, tmp_path / "p", ShardConfig(patches=PatchParams(normalisation="patch")), progress=False)
    rows = _all_rows(tmp_path / "p")
    sub = _rows_of(rows, "a1~a1i")  # 14 s: 151 frames -> starts 0 and 23 (end-aligned)
    assert sub["start_frame"].to_pylist() == [0, 23]
    mix = stored_tensor(sub, "mix")
    assert np.all(mix.max(axis=(1, 2)) == 1.0)
    ref = reference_magnitude(librosa.load(root / "audio" / "a1.wav", sr=None)[0])
    assert sub["scale"].to_numpy() == pytest.approx([ref[:, :128].max(), ref[:, 23:151].max()], rel=1e-4)
    assert result.patches == summary.patches
    voc, inst = stored_tensor(sub, "vocals"), stored_tensor(sub, "instrumental")
    np.testing.assert_allclose(voc, np.maximum(mix - inst, 0), atol=1.5e-3)


@pytest.mark.slow
def test_a_distributed_local_cluster_builds_the_same_dataset(built, tmp_path):
    from distributed import LocalCluster

    _, _, pairs_dir, out, _ = built
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        summary = build_shards(pairs_dir, tmp_path / "d", CONFIG, scheduler=cluster.scheduler_address,
                               progress=False)
    assert summary.computed_pairs == 7 and summary.skipped == [("g1~g1i", "missing-file")]
    local = json.loads((out / "manifest.json").read_text())
    dist = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert dist["splits"] == local["splits"]  # same pairs, patches, shard paths, row counts and sha1s
    assert dist["build_key"] == local["build_key"]


def test_cli_prints_the_dataset_summary(built, tmp_path):
    _, _, pairs_dir, _, summary = built
    result = CliRunner().invoke(cli_main, [str(pairs_dir), "-o", str(tmp_path / "c"), "--no-progress",
                                           "--row-group-size", "2", "--shard-mb", "0.5"])
    assert result.exit_code == 0, result.output
    hours = sum(s.seconds for s in summary.splits.values()) / 3600
    assert f"{hours:.3f} h of audio, {summary.patches} patches" in result.output
    for split in SPLITS:
        assert f"{split:5s}: {summary.splits[split].pairs:6d} pairs {summary.splits[split].patches:8d} patches" in result.output
    assert "skipped 1 pairs: missing-file x1" in result.output and "g1~g1i: missing-file" in result.output
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["config"]["rows_per_shard"] == 2 and manifest["config"]["row_group_size"] == 2


def test_bad_inputs_give_a_message_and_exit_code_2(tmp_path):
    runner = CliRunner()
    (tmp_path / "empty").mkdir()
    result = runner.invoke(cli_main, [str(tmp_path / "empty"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no pairs table at" in result.output and "mine-pairs" in result.output

    (tmp_path / "cols").mkdir()
    pq.write_table(pa.table({"pair_id": ["a~b"], "status": ["accepted"]}), tmp_path / "cols" / "pairs.parquet")
    result = runner.invoke(cli_main, [str(tmp_path / "cols"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "lacks the column(s) artist, artist_key" in result.output

    (tmp_path / "none").mkdir()
    row = {"pair_id": "a~b", "original_id": "a", "instrumental_id": "b", "status": "rejected", "reason": "drift"}
    pq.write_table(pa.Table.from_pylist([row], schema=PAIRS), tmp_path / "none" / "pairs.parquet")
    result = runner.invoke(cli_main, [str(tmp_path / "none"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "has no accepted pairs" in result.output

    result = runner.invoke(cli_main, [str(tmp_path / "none"), "-o", str(tmp_path / "o"), "--ratios", "1,0"])
    assert result.exit_code == 2 and "'--ratios': wants 3 comma-separated float values" in result.output
    with pytest.raises(UserInputError, match="512 bins x 128 frames"):
        ShardConfig(patches=PatchParams(patch_frames=64))


def test_to_float16_is_numpys_cast_bit_for_bit():
    from features.patches import to_float16

    rng = np.random.default_rng(0)
    values = rng.standard_normal(200_000) * 10.0 ** rng.uniform(-12, 4, 200_000)
    edges = [0.0, -0.0, 2**-14, 2**-14 * (1 - 2**-12), 2**-25, 2**-25 * 1.0001, 3 * 2**-25, 2.5 * 2**-24, 6.1e-5]
    values = np.concatenate([values, edges, np.negative(edges)]).astype(np.float32)
    assert np.array_equal(to_float16(values).view(np.uint16), values.astype(np.float16).view(np.uint16))
