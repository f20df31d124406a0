"""Text normalisation for matching: vectorised over Arrow string arrays (pyarrow.compute, RE2), one code path.

- ``fold``: NFKC and lower case ("ß" -> "ss"): the form markers are detected on.
- ``artist_keys``: the primary artist of a credit, letters and digits only: "The Beatles" -> "beatles",
  "Jay-Z" and "JAY Z" -> "jayz", "A & B", "A feat. B", "A, B", "A x B", "A with B" -> "a", "Beyoncé" -> "beyonce".
- ``credit_keys``: the primary key and the keys of the other artists a credit names ("A feat. B & C").
- ``title_cores``: a title reduced to its words: accents stripped ("Café" -> "cafe"), apostrophes and dots
  dropped ("Don't" -> "dont", "L.A." -> "la"), "&" -> "and", featured-artist credits ("(feat. X)", "ft. X",
  "(with X)") and "(Explicit)"/"(Clean)" removed, every other punctuation a single space. Version segments
  ("(Live)", "- Radio Edit") stay in the core: they must match too.

The scalar helpers (``artist_key``, ``title_core``, ``fold_text``) run the same vectorised code on one value,
so tests and the pipeline cannot drift apart. Strings that are pure ASCII skip the Unicode steps (NFKC,
NFKD, combining marks), which gives the same result faster.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_APOSTROPHES_DOTS = r"['\x{2019}\x{2018}`\x{00B4}\.]"
_FEAT_BRACKET = r"[\(\[\{]\s*(?:feat|ft|featuring|with)\b\.?[^\(\)\[\]\{\}]*[\)\]\}]"
# "ft. X" / "feat. X" outside brackets: up to the next bracket or " - " segment.
_FEAT_BARE = r"\s(?:feat|ft|featuring)\b\.?\s(?:[^\(\[\{\s]|\s[^\(\[\{\-\x{2013}\x{2014}])*"
_EXPLICIT = r"[\(\[\{]\s*(?:explicit|clean|dirty)(?:\s+version)?\s*[\)\]\}]"
# Where the primary artist's name ends: a featured credit, a second artist.
_ARTIST_CUT = (
    r"(?s)\s*[\(\[]?\s*\b(?:feat|ft|featuring|vs)\b\.?.*$"
    r"|\s+(?:with|x|and|\+|/|vs\.?)\s+.*$"
    r"|\s*[&,;]\s*.*$"
)


def _as_string_array(values: pa.Array | pa.ChunkedArray | list[str]) -> pa.Array:
    if isinstance(values, list):
        values = pa.array(values, pa.string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_large_string(values.type) or pa.types.is_string_view(values.type):
        values = values.cast(pa.string())
    return pc.fill_null(values, "")


def _split_ascii(values: pa.Array, ascii_fn, unicode_fn) -> pa.Array:
    """Apply ``ascii_fn`` to the pure-ASCII strings and ``unicode_fn`` to the rest, keeping the order."""
    is_ascii = pc.string_is_ascii(values).to_numpy(zero_copy_only=False)
    if is_ascii.all():
        return ascii_fn(values)
    if not is_ascii.any():
        return unicode_fn(values)
    ia, iu = np.flatnonzero(is_ascii), np.flatnonzero(~is_ascii)
    done = pa.concat_arrays([ascii_fn(values.take(ia)), unicode_fn(values.take(iu))])
    order = np.empty(len(values), dtype=np.int64)
    order[ia] = np.arange(len(ia))
    order[iu] = len(ia) + np.arange(len(iu))
    return done.take(pa.array(order))


def _fold_unicode(values: pa.Array) -> pa.Array:
    out = pc.utf8_lower(pc.utf8_normalize(values, "NFKC"))
    out = pc.replace_substring(out, "ß", "ss")
    return pc.replace_substring(out, "ς", "σ")


def fold(values) -> pa.Array:
    """NFKC + lower case ([n] strings -> [n] strings); nulls become ""."""
    return _split_ascii(_as_string_array(values), pc.ascii_lower, _fold_unicode)


def _strip_accents(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(pc.utf8_normalize(values, "NFKD"), r"\p{Mn}+", "")


def _title_core_ascii(t: pa.Array) -> pa.Array:
    t = pc.replace_substring_regex(t, _APOSTROPHES_DOTS, "")
    t = pc.replace_substring_regex(t, r"[^a-z0-9]+", " ")
    return pc.utf8_trim_whitespace(t)


def _title_core_unicode(t: pa.Array) -> pa.Array:
    t = _strip_accents(t)
    t = pc.replace_substring_regex(t, _APOSTROPHES_DOTS, "")
    t = pc.replace_substring_regex(t, r"[^\p{L}\p{N}]+", " ")
    return pc.utf8_trim_whitespace(pc.utf8_normalize(t, "NFC"))


def title_cores(folded_titles) -> pa.Array:
    """Core of each folded title (see module doc) ([n] -> [n]). Give titles through ``fold`` and with the
    instrumental marker already removed."""
    t = _as_string_array(folded_titles)
    t = pc.replace_substring_regex(t, _FEAT_BRACKET, " ")
    t = pc.replace_substring_regex(t, _FEAT_BARE, " ")
    t = pc.replace_substring_regex(t, _EXPLICIT, " ")
    t = pc.replace_substring(t, "&", " and ")
    return _split_ascii(t, _title_core_ascii, _title_core_unicode)


def _artist_key_ascii(a: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(a, r"[^a-z0-9]+", "")


def _artist_key_unicode(a: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(_strip_accents(a), r"[^\p{L}\p{N}]+", "")


def _artist_keys_plain(folded: pa.Array) -> pa.Array:
    a = pc.utf8_trim_whitespace(folded)
    a = pc.replace_substring_regex(a, _ARTIST_CUT, "")
    a = pc.replace_substring_regex(a, r"^the\s+", "")
    key = _split_ascii(a, _artist_key_ascii, _artist_key_unicode)
    # A credit with no letters or digits at all ("!!!", "+/-"): keep its symbols rather than an empty key.
    fallback = pc.replace_substring_regex(folded, r"\s+", "")
    return pc.if_else(pc.equal(key, ""), fallback, key)


def artist_keys(artists) -> pa.Array:
    """Blocking key of each artist credit ([n] -> [n]); computed once per distinct credit."""
    values = _as_string_array(artists)
    enc = pc.dictionary_encode(values)
    keys = _artist_keys_plain(fold(enc.dictionary))
    return keys.take(enc.indices)


#: Where a credit lists several artists: ";", ",", "&", "+", " / ", " x ", " and ", " with ", "feat.", "vs".
_CREDIT_SPLIT = (r"\s*[\(\[]?\s*\b(?:feat|ft|featuring|vs)\b\.?\s*|\s+(?:with|x|and|\+|/|vs\.?)\s+"
                 r"|\s*[&,;]\s*")
#: A credit naming more artists than this is a compilation credit: only its first artist is a block key.
MAX_CREDITED = 6


def _other_keys(folded: pa.Array, primary: pa.Array) -> pa.Array:
    """The list of other credited artists' keys of each folded credit (see ``credit_keys``)."""
    n = len(folded)
    several = pc.match_substring_regex(folded, _CREDIT_SPLIT).to_numpy(zero_copy_only=False)
    idx = np.flatnonzero(several)
    counts = np.zeros(n, np.int32)
    values: list[str] = []
    if len(idx):
        sub = folded.take(pa.array(idx))
        parts = pc.split_pattern_regex(sub, _CREDIT_SPLIT)
        keys = _artist_keys_plain(pc.utf8_trim(pc.list_flatten(parts), "()[]{} ")).to_pylist()
        prim = primary.take(pa.array(idx)).to_pylist()
        offsets = parts.offsets.to_pylist()
        for m, i in enumerate(idx.tolist()):
            mine = {k for k in keys[offsets[m]:offsets[m + 1]] if k}
            if len(mine) > MAX_CREDITED:
                continue
            mine.discard(prim[m])
            counts[i] = len(mine)
            values += sorted(mine)
    offsets_all = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets_all), pa.array(values, pa.string()))


def credit_keys(artists) -> tuple[pa.Array, pa.Array]:
    """(primary key, other keys) of each credit ([n] -> [n] string, [n] list<string>), one pass over the
    distinct credits. The primary key is ``artist_keys``'s; the others are the keys of the artists the
    credit names after its primary one (empty for a single-artist credit or a compilation of more than
    ``MAX_CREDITED``): "JIN; V" -> ["v"], "A feat. B & C" -> ["b", "c"]."""
    enc = pc.dictionary_encode(_as_string_array(artists))
    folded = fold(enc.dictionary)
    primary = _artist_keys_plain(folded)
    return primary.take(enc.indices), _other_keys(folded, primary).take(enc.indices)


def fold_text(text: str) -> str:
    return fold([text])[0].as_py()


def artist_key(artist: str) -> str:
    """``artist_keys`` of one credit."""
    return artist_keys([artist])[0].as_py()


def title_core(title: str) -> str:
    """``title_cores`` of one raw title (folded here; the marker is not removed)."""
    return title_cores(fold([title]))[0].as_py()
