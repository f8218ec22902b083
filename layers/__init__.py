"""Compressed versions of nn.Linear and nn.Conv2d: hashed, masked, low rank, sketched."""
