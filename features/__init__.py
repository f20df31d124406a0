"""Audio decoding, the paper's STFT, and spectrogram-patch shards (the features stage).

``features.audio`` and ``features.stft`` are the one decode and STFT path of the project: pairing,
shard building, training and separation all go through them.
"""
