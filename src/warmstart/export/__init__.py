"""Conversions to and from the formats users already have: Hugging Face folders, ONNX."""
