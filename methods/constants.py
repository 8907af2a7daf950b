"""Constants that more than one method module uses, each defined once."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel mean and standard deviation of ImageNet, with which pretrained backbones expect
their inputs normalised."""

REFERENCE_SIZE = 256
"""The image side of the AnatPaste reference code: its pixel constants (patch sizes, mask area
and structuring element) are for this size and scale with the run's size."""
