"""What ``build_shards`` makes (``ShardConfig``) and how a build, a part and a shard are named (content hashes).

``ShardConfig`` composes the patch settings (``features.patches.PatchParams``) and the split settings
(``features.splits.SplitConfig``); the ``build-shards`` options are derived from its settings
(``commands.options.config_options``), so every default is written once, here or in those two.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from catalog_schemas.shards import TENSOR_BYTES, TENSOR_COLUMNS
from features.patches import PatchParams
from features.splits import SPLIT_RULES, SplitConfig
from vocalmine.settings import check, setting

#: Version of the on-disk layout (parts and shards); part, shard and build hashes include it.
FORMAT = "vocalmine-shards/1"
#: Parquet codecs a shard may be written with (``none``: see docs/shards.md for the measurement).
COMPRESSIONS = ("none", "snappy", "lz4", "zstd", "gzip", "brotli")
#: The scalar columns of a shard row (the tensors are ``TENSOR_COLUMNS``).
SCALAR_COLUMNS = ("pair_id", "start_frame", "scale", "vocal_energy")
#: Bytes of one shard row (three tensors and the scalars), for sizing shards.
ROW_BYTES = len(TENSOR_COLUMNS) * TENSOR_BYTES + 64
MIB = 2**20


@dataclass(frozen=True)
class ShardConfig:
    """What ``build_shards`` makes. Defaults are the paper's STFT and patches (8192 Hz, Hann 1024, hop 768,
    128 frames x 512 bins).

    - ``patches``: the STFT, ``patch_hop`` (frames between patch starts) and ``normalisation``.
    - ``split``: ``ratios`` and ``seed`` of the train/valid/test split (by artist and content group, see
      ``features.splits``); ``seed`` also orders pairs into shards and rows within a shard.
    - ``shard_bytes``: target shard size (rows per shard rounded down to whole row groups, at least one).
    - ``row_group_size``: patches per Parquet row group, the reader's unit of shuffling and streaming.
    - ``compression``: Parquet codec of all columns.
    - ``workers``: threads of the local scheduler (None: one per core); ignored on a cluster.
    - ``keep_work``: keep ``.work/parts`` after a successful build.
    - ``fixed_splits``: ``(artist key, split)`` pairs that override the hashed split (``--split-file``,
      ``features.splits.read_split_file``); part of the build key by content.
    - ``max_target_error``: skip pairs whose ``target_error`` exceeds it (None: keep all; a table without the
      column keeps all); part of the build key only when set.

    Raises ``UserInputError`` for a value outside a setting's choices or bounds.
    """

    patches: PatchParams = field(default_factory=PatchParams)
    split: SplitConfig = field(default_factory=SplitConfig)
    shard_bytes: int = setting(256 * MIB, "Target shard size, bytes (the command's --shard-mb is MiB).", low=1,
                               cli=False)
    row_group_size: int = setting(32, "Patches per Parquet row group (the reader's shuffling unit).", low=1)
    compression: str = setting("none", "Parquet codec (see docs/shards.md).", choices=COMPRESSIONS)
    workers: int | None = setting(None, "Threads of the local scheduler [default: one per core]; ignored on a "
                                  "cluster.", low=1)
    keep_work: bool = setting(False, "Keep per-pair intermediate files in OUT/.work (a later build with other "
                              "split or shard options then skips the audio work).")
    max_target_error: float | None = setting(None, "Skip pairs whose estimated target error (pairs.parquet "
                                             "target_error: times the ideal target's) exceeds this; each is listed "
                                             "in the manifest with the reason target-error [default: keep all].",
                                             low=1.0)
    fixed_splits: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check(self)

    @property
    def rows_per_shard(self) -> int:
        groups = max(1, self.shard_bytes // ROW_BYTES // self.row_group_size)
        return groups * self.row_group_size

    def parquet_options(self) -> dict[str, Any]:
        """Writer options of every shard (dictionary encoding and statistics only on the small columns)."""
        return {
            "compression": self.compression,
            "use_dictionary": ["pair_id"],
            "write_statistics": list(SCALAR_COLUMNS),
            "data_page_size": 1 << 20,
        }


def content_hash(obj: Any) -> str:
    """SHA-1 (hex) of ``obj`` as sorted-key JSON: the name of a part, a shard's spec, a build's key."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def build_key(config: ShardConfig, pairs_sha1: str) -> str:
    """The key of a build of the pairs table with SHA-1 ``pairs_sha1``: a finished build whose manifest has the
    same key is up to date. ``workers`` and ``keep_work`` do not change what is built, so they do not count.

    The config is hashed in the flat form ``ShardConfig`` had before it composed ``PatchParams`` and
    ``SplitConfig`` (``stft``, ``patch_frames``, ``patch_hop``, ``normalisation``, ``ratios``, ``seed``, then
    its own fields): a changed form would change every key and rebuild every existing build. ``SPLIT_RULES``
    (how pairs are grouped into splits) is hashed too: a build split under earlier rules is remade.
    """
    fields = dataclasses.asdict(config)
    if fields["max_target_error"] is None:  # unset, the key is the one it was before the option existed
        del fields["max_target_error"]
    flat = {**fields.pop("patches"), **fields.pop("split"), **fields}
    return content_hash([FORMAT, pairs_sha1, flat | {"workers": None, "keep_work": None}, SPLIT_RULES])
