"""The image modality's data: readers (folder trees, .npz/.npy arrays, IDX files), preprocessing
(normalisation, augmentation), corruption and patch masking, and the row sources the trainer reads.

The image jobs themselves sit with the text ones: ``training.image_pretrain`` (denoising CNN or MAE-style
ViT), ``training.image_finetune``, ``evaluation.image_evaluate`` and ``evaluation.image_predict``.

    >>> from warmstart.config import load_config
    >>> from warmstart.training.image_pretrain import pretrain_images
    >>> job = load_config("image-pretrain", "recipes/fashion-mnist/pretrain-dae.yaml")
    >>> pretrain_images(job)                       # -> RUN/model, RUN/pictures/step-*.png
"""
