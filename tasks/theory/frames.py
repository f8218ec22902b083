"""Frames of M unit directions orthogonal to the teacher's mean: the ETF and the baselines it is compared with.

A frame is given by its coordinates C (M, M), one unit row per direction, and an orientation Q (d, M)
with orthonormal columns orthogonal to the mean: the directions are the rows of C Q^T.
"""
from __future__ import annotations

import torch


def etf_coordinates(count: int) -> torch.Tensor:
    """The simplex: unit rows with pairwise cosine -1/(count-1) (rows e_j - mean, normalised)."""
    centred = torch.eye(count, dtype=torch.float64) - 1.0 / count
    return centred / centred.norm(dim=1, keepdim=True)


def frame_coordinates(kind: str, count: int, gen: torch.Generator) -> torch.Tensor:
    """`etf`, `orthogonal` (cosine 0) or `random` (independent random directions)."""
    if kind == "etf":
        return etf_coordinates(count)
    if kind == "orthogonal":
        return torch.eye(count, dtype=torch.float64)
    rows = torch.randn(count, count, generator=gen, dtype=torch.float64)
    return rows / rows.norm(dim=1, keepdim=True)


def random_orientation(count: int, dim: int, orthogonal_to: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random orthonormal columns (dim, count) orthogonal to the unit vector `orthogonal_to`."""
    raw = torch.randn(dim, count, generator=gen, dtype=torch.float64)
    basis, _ = torch.linalg.qr(raw - orthogonal_to[:, None] * (orthogonal_to @ raw)[None, :])
    return basis


def rotation_fixing(direction: torch.Tensor, generator: torch.Tensor) -> torch.Tensor:
    """The rotation exp(P (A - A^T) P) of R^d, P the projection orthogonal to `direction`: it keeps
    `direction` fixed and reaches every rotation of its complement; the identity at A = 0."""
    projection = torch.eye(len(direction), dtype=direction.dtype) - torch.outer(direction, direction)
    return torch.linalg.matrix_exp(projection @ (generator - generator.T) @ projection)


def etf_directions(count: int, dim: int, orthogonal_to: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """`count` unit vectors with pairwise cosine -1/(count-1), orthogonal to a unit vector, randomly oriented."""
    return etf_coordinates(count) @ random_orientation(count, dim, orthogonal_to, gen).T


def perpendicular_parts(student: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """The students' rows with their `direction` part removed, normalised."""
    perp = student - (student @ direction)[:, None] * direction
    return perp / perp.norm(dim=1, keepdim=True)


def perpendicular_cosines(student: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Pairwise cosines (off-diagonal) of the students' directions with their `direction` part removed."""
    perp = perpendicular_parts(student, direction)
    cosines = perp @ perp.T
    return cosines[~torch.eye(len(student), dtype=torch.bool)]


def nearest_orientation(coordinates: torch.Tensor, student: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """The orientation Q minimising |C Q^T - P|_F, P the student's perpendicular parts (orthogonal Procrustes):
    the exact frame nearest to the trained student ("snapping" it to the frame)."""
    u, _, vh = torch.linalg.svd(perpendicular_parts(student, direction).T @ coordinates, full_matrices=False)
    return u @ vh
