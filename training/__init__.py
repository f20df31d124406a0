"""Training stage: the paper's U-Net trained on shard patches.

Modules, in the order they build on each other:

- ``config``: ``TrainConfig``, every setting of a run (the ``train`` command's options derive from it);
- ``augment``: augmentation of batches (remix, random gain), the ``Augment`` part of the config;
- ``schedule``: the learning-rate schedule;
- ``model``: the paper's U-Net and its no-skip baseline, the loss;
- ``contents``: what a checkpoint's model part must hold (types, bounds, weight shapes, finite values);
- ``checkpoint``: safe checkpoints (plain data, format checked before loading, atomic writes, RNG states);
- ``resume``: what a resumed run may change;
- ``data``: batches from shards with exact resumable positions, loader threads;
- ``distributed``: ranks, collectives, device, precision and memory format;
- ``runlog``: ``train_log.csv``, TensorBoard, the progress bar;
- ``guard``: non-finite losses and weights stop a run; Ctrl-C waits for the step in progress;
- ``trainer``: ``Trainer``, the loop (restore, step, validate, save);
- ``train``: ``train(config)``, which wires config, data, devices and checkpoint to the trainer.

Separation and evaluation live beside it (``separation``, ``evaluation``). Imports only earlier stages
(``features``, ``catalog_schemas``) and the foundation (``vocalmine``). The package imports nothing itself, so
``training.config`` loads without torch.
"""
