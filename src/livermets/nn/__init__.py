"""What the network stages share (``segment``'s segmenter, ``deep``'s crop CNN and multi-phase
network): the network grid and intensity normalisation of images (``nn.grid``,
``nn.intensity``), SAM (``nn.sam``) and the pieces of a training loop (``nn.training``: threads,
determinism, optimiser and schedule, the non-finite step guard, checkpoints).

Nothing is imported here, so importing ``livermets.nn`` does not import torch.
"""
