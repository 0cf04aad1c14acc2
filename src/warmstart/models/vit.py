"""Vision Transformer encoder and the masked-autoencoder decoder: the forward path in one file.

References: Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words" (patch embedding by a strided
convolution, a [CLS] token, pre-LayerNorm transformer blocks); He et al. 2022, "Masked
Autoencoders Are Scalable Vision Learners" (the encoder runs on the visible patches only; a light
decoder gets the encoded patches plus one shared mask token per hidden patch and predicts every
patch's pixels; fixed 2-D sine-cosine position embeddings).

The transformer blocks are the text encoder's (``BertEncoder`` with ``pre_norm=True``), so
parameter names under ``vit.encoder.layer.{i}.`` follow BERT's and layer-wise learning-rate decay
and freezing by depth apply unchanged. Not a Hugging Face ViT key map (HF's ViT names its blocks
differently); export to HF is not a goal for image models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from warmstart.errors import InputError
from warmstart.models.bert import BertConfig, BertEncoder, _init_weights


@dataclass(frozen=True)
class ViTConfig:
    """Shape of the encoder (and of the MAE decoder, used in pre-training only)."""

    image_size: int = 28
    patch_size: int = 4
    num_channels: int = 1
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 512
    hidden_act: str = "gelu"
    dropout: float = 0.0
    layer_norm_eps: float = 1e-6
    initializer_range: float = 0.02
    decoder_hidden_size: int = 64
    decoder_num_hidden_layers: int = 2
    decoder_num_attention_heads: int = 4

    def __post_init__(self) -> None:
        for name in ("image_size", "patch_size", "num_channels", "hidden_size", "num_hidden_layers",
                     "num_attention_heads", "intermediate_size", "decoder_hidden_size",
                     "decoder_num_hidden_layers", "decoder_num_attention_heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"ViTConfig.{name} must be a positive integer, got {value!r}")
        if self.image_size % self.patch_size:
            raise InputError(
                f"ViTConfig.image_size ({self.image_size}) must be a multiple of patch_size ({self.patch_size}); "
                "resize the images (images.size) or choose another patch size"
            )
        if self.num_patches < 2:
            raise InputError(f"ViTConfig: {self.image_size}px images in {self.patch_size}px patches give one patch; use smaller patches")
        for hidden, heads, what in ((self.hidden_size, self.num_attention_heads, ""),
                                    (self.decoder_hidden_size, self.decoder_num_attention_heads, "decoder_")):
            if hidden % heads or (hidden // heads) % 2:
                raise InputError(f"ViTConfig.{what}hidden_size ({hidden}) must split into {what}num_attention_heads "
                                 f"({heads}) heads of even width")
            if hidden % 4:
                raise InputError(f"ViTConfig.{what}hidden_size ({hidden}) must be a multiple of 4 (2-D sine-cosine positions)")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid**2

    @property
    def patch_dim(self) -> int:
        return self.patch_size**2 * self.num_channels

    def block_config(self, decoder: bool = False) -> BertConfig:
        """The text encoder's block settings: pre-norm, this width and depth (no vocabulary is used)."""
        hidden = self.decoder_hidden_size if decoder else self.hidden_size
        return BertConfig(
            vocab_size=1, hidden_size=hidden,
            num_hidden_layers=self.decoder_num_hidden_layers if decoder else self.num_hidden_layers,
            num_attention_heads=self.decoder_num_attention_heads if decoder else self.num_attention_heads,
            intermediate_size=4 * hidden if decoder else self.intermediate_size, hidden_act=self.hidden_act,
            hidden_dropout_prob=self.dropout, attention_probs_dropout_prob=self.dropout,
            max_position_embeddings=self.num_patches + 1, layer_norm_eps=self.layer_norm_eps,
            initializer_range=self.initializer_range, pre_norm=True,
        )


def sincos_positions(dim: int, grid: int) -> torch.Tensor:
    """(1 + grid*grid, dim) fixed 2-D sine-cosine position embeddings; row 0 ([CLS]) is zeros.

    Half the channels encode the row, half the column, each as sin/cos at geometric frequencies
    (Vaswani et al. 2017, section 3.5, applied per axis as in MAE).
    """
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)  # (D/4,)
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64), indexing="ij")
    def axis(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * omega  # (N, D/4)
        return torch.cat([angles.sin(), angles.cos()], dim=1)
    table = torch.cat([axis(rows), axis(cols)], dim=1)  # (N, D)
    return torch.cat([torch.zeros(1, dim, dtype=torch.float64), table]).float()


def patchify(pixel_values: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, p*p*C), patches in row-major order, each flattened as (p, p, C)."""
    B, C, H, W = pixel_values.shape
    p = patch_size
    x = pixel_values.reshape(B, C, H // p, p, W // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(B, (H // p) * (W // p), p * p * C)


def unpatchify(patches: torch.Tensor, patch_size: int, channels: int) -> torch.Tensor:
    """The inverse of ``patchify``: (B, N, p*p*C) -> (B, C, H, W) for a square grid."""
    B, N, _ = patches.shape
    g, p = int(round(N**0.5)), patch_size
    x = patches.reshape(B, g, g, p, p, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(B, channels, g * p, g * p)


class ViTPatchEmbeddings(nn.Module):
    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.projection = nn.Conv2d(cfg.num_channels, cfg.hidden_size, cfg.patch_size, stride=cfg.patch_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.projection(pixel_values).flatten(2).transpose(1, 2)  # (B, N, H)


class ViTEmbeddings(nn.Module):
    """Patches -> tokens with positions; with a mask, only the visible patches are kept."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.patch_embeddings = ViTPatchEmbeddings(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.hidden_size))
        # not a parameter and not saved: a function of the config
        self.register_buffer("position_embeddings", sincos_positions(cfg.hidden_size, cfg.grid)[None], persistent=False)

    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        if pixel_values.shape[1:] != (cfg.num_channels, cfg.image_size, cfg.image_size):
            raise ValueError(f"model takes ({cfg.num_channels}, {cfg.image_size}, {cfg.image_size}) images, "
                             f"got {tuple(pixel_values.shape[1:])}")
        x = self.patch_embeddings(pixel_values) + self.position_embeddings[:, 1:]  # (B, N, H)
        if bool_masked_pos is not None:
            B, N, H = x.shape
            visible = ~bool_masked_pos  # (B, N)
            counts = visible.sum(dim=1)
            if bool(counts.ne(counts[0]).any()):
                raise ValueError("bool_masked_pos must hide the same number of patches in every image")
            x = x[visible].view(B, int(counts[0]), H)  # (B, K, H): visible patches only, in grid order
        cls = (self.cls_token + self.position_embeddings[:, :1]).expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1)  # (B, 1 + K, H)


class ViTModel(nn.Module):
    """The encoder: patch embeddings, pre-norm transformer blocks (with their final LayerNorm)."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = ViTEmbeddings(cfg)
        self.encoder = BertEncoder(cfg.block_config())
        self.apply(lambda m: _init_weights(m, cfg.initializer_range))
        _init_patch_projection(self.embeddings.patch_embeddings.projection)
        nn.init.normal_(self.embeddings.cls_token, std=cfg.initializer_range)

    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1 + K, hidden): [CLS] then the K visible patches (all N without a mask).

        ``bool_masked_pos`` (B, N) is True for patches the encoder must not see; they are dropped
        before the first block, so no attention ever reaches them.
        """
        return self.encoder(self.embeddings(pixel_values, bool_masked_pos), None)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, 1 + K, H) -> (B, H): the mean of the patch tokens (MAE's fine-tuning pooling)."""
        return hidden[:, 1:].mean(dim=1)


class MAEDecoder(nn.Module):
    """Encoded visible patches + mask tokens at the hidden positions -> pixels of every patch."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.decoder_embed = nn.Linear(cfg.hidden_size, cfg.decoder_hidden_size)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_hidden_size))
        self.register_buffer("position_embeddings", sincos_positions(cfg.decoder_hidden_size, cfg.grid)[None],
                             persistent=False)
        self.decoder = BertEncoder(cfg.block_config(decoder=True))
        self.decoder_pred = nn.Linear(cfg.decoder_hidden_size, cfg.patch_dim)
        self.apply(lambda m: _init_weights(m, cfg.initializer_range))
        nn.init.normal_(self.mask_token, std=cfg.initializer_range)

    def forward(self, hidden: torch.Tensor, bool_masked_pos: torch.Tensor) -> torch.Tensor:
        x = self.decoder_embed(hidden)  # (B, 1 + K, D)
        B, _, D = x.shape
        hidden_patch = bool_masked_pos[..., None]  # (B, N, 1)
        # visible tokens back to their grid places (row-major, the order the encoder kept them in)
        placed = x.new_zeros(B, bool_masked_pos.shape[1], D).masked_scatter(~hidden_patch, x[:, 1:])
        tokens = torch.where(hidden_patch, self.mask_token.to(x.dtype), placed)  # (B, N, D)
        tokens = torch.cat([x[:, :1], tokens], dim=1) + self.position_embeddings
        return self.decoder_pred(self.decoder(tokens, None)[:, 1:])  # (B, N, p*p*C)


class ViTForMaskedImageModeling(nn.Module):
    """Encoder plus MAE decoder: the pre-training model of masked-patch reconstruction."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.vit = ViTModel(cfg)
        self.decoder = MAEDecoder(cfg)

    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 1 + K, H) encoder states of [CLS] and the visible patches; see ``ViTModel.forward``."""
        return self.vit(pixel_values, bool_masked_pos)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.vit.pool(hidden)

    def reconstruct(self, hidden: torch.Tensor, bool_masked_pos: torch.Tensor) -> torch.Tensor:
        """Encoder states + the mask they were made with -> (B, N, p*p*C) predicted patch pixels."""
        return self.decoder(hidden, bool_masked_pos)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _init_patch_projection(conv: nn.Conv2d) -> None:
    # MAE: the patch projection initialised like a linear layer (Xavier on the flattened kernel)
    nn.init.xavier_uniform_(conv.weight.view(conv.weight.shape[0], -1))
    nn.init.zeros_(conv.bias)
