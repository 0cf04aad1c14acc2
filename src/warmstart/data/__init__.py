"""Corpus readers, token shards and the rows pre-training reads from them."""
