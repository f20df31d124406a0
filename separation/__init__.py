"""Separation: trained models (``training``) applied to songs: masks on patches, the mixture's phase, the inverse
STFT (``separate``), and REPET-SIM, the training-free classic every table sets beside the model (``repet``).

Imports ``training`` (models and checkpoints), ``features`` (decode, STFT) and the foundation (``vocalmine``).
"""
