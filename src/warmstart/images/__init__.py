"""Images: readers (folder trees, .npz/.npy arrays, IDX files), corruption and patch masking,
pre-training by denoising (ResNet-style CNN) or masked patches (MAE-style ViT), and few-label
image classification, all on the one ``Trainer``.

    >>> from warmstart.config import load_config
    >>> from warmstart.images.pretrain import pretrain_images
    >>> job = load_config("image-pretrain", "recipes/fashion-mnist/pretrain-dae.yaml")
    >>> pretrain_images(job)                       # -> RUN/model, RUN/pictures/step-*.png
"""

# NOTE: warmstart.config registers the image jobs by importing warmstart.images.config at its end;
# importing it here first keeps that order whichever module a user imports first (no import cycle).
import warmstart.config  # noqa: F401
