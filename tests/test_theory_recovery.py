"""task=hashed_recovery (Lin et al.): the closed-form gradient and the empirical Hessian against their references."""
from __future__ import annotations

import torch

from tasks.theory.hashed_landscape import bucket_to_virtual_basis, dense_basis, empirical_hessian, \
    hessian_at_teacher, population_gradient, virtual_weights
from tasks.theory.relu_kernel import population_loss


def test_closed_form_gradient_is_the_population_loss_gradient():
    basis = bucket_to_virtual_basis(7, 3, 9, seed=1)
    gen = torch.Generator().manual_seed(0)
    teacher, theta = (torch.randn(9, generator=gen, dtype=torch.float64) for _ in range(2))
    theta.requires_grad_()
    ones = torch.ones(3, dtype=torch.float64)
    teacher_v = virtual_weights(teacher, basis)
    (expected,) = torch.autograd.grad(population_loss(virtual_weights(theta, basis), ones, teacher_v, ones), theta)
    assert torch.allclose(population_gradient(theta.detach(), teacher_v, basis), expected, atol=1e-12)


def test_empirical_hessian_tends_to_the_population_hessian():
    """Many samples: (2/n) J^T J within Monte Carlo error of the closed-form Hessian, for both nets."""
    hashed = bucket_to_virtual_basis(5, 2, 6, seed=2)
    teacher = torch.randn(6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = torch.randn(400_000, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for basis, theta in ((hashed, teacher), (dense_basis(5, 2), virtual_weights(teacher, hashed).flatten())):
        population = hessian_at_teacher(theta, basis)
        assert (empirical_hessian(x, theta, basis) - population).abs().max() < 0.02 * population.abs().max()
