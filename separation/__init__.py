"""Separation: trained models (``training``) applied to songs: masks on patches, the mixture's phase, the inverse
STFT (``separate``), and REPET-SIM, the training-free classic every table sets beside the model (``repet``).

A song is streamed in blocks, never held whole: ``sources`` (audio read in blocks), ``streams`` (resampler, STFT
and inverse STFT as streams), ``masks`` (the patch blend, the full-band mask, the combination of two models),
``engine`` (one song through all of them), ``names`` (output folder names), ``separate`` (models, files).

Imports ``training`` (models and checkpoints), ``features`` (decode, STFT) and the foundation (``vocalmine``).
"""
