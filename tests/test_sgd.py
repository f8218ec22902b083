"""bench/training/sgd.py computes what torch.optim.SGD and ExponentialLR compute, bit for bit."""
import subprocess
import sys

import pytest
import torch
from torch import nn

from bench.training.sgd import MomentumSGD


def small_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 30), nn.ReLU(), nn.Linear(30, 5))
    net[0].bias.requires_grad_(False)  # a frozen parameter is left alone
    return net


@pytest.mark.parametrize("momentum, weight_decay", [(0.9, 0.0), (0.9, 1e-3), (0.0, 0.0), (0.0, 1e-3)])
def test_steps_and_decayed_learning_rates_equal_torchs_sgd(momentum, weight_decay):
    ours, theirs = small_net(), small_net()
    optimizer = MomentumSGD(ours.parameters(), lr=0.1, momentum=momentum, weight_decay=weight_decay)
    reference = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=momentum, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.ExponentialLR(reference, gamma=0.95)
    generator = torch.Generator().manual_seed(1)
    for epoch in range(4):
        for _ in range(5):
            x, y = torch.randn(8, 20, generator=generator), torch.randint(0, 5, (8,), generator=generator)
            for net, opt in ((ours, optimizer), (theirs, reference)):
                opt.zero_grad()
                nn.functional.cross_entropy(net(x), y).backward()
                opt.step()
        optimizer.lr *= 0.95
        schedule.step()
        assert optimizer.lr == reference.param_groups[0]["lr"]
    for mine, torchs in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(mine, torchs)
    optimizer.zero_grad()
    assert all(p.grad is None for p in optimizer.params) and len(optimizer.params) == 3


def test_neither_the_optimizer_nor_the_determinism_settings_import_torchs_compiler():
    code = ("import sys, torch; from bench.training.sgd import MomentumSGD; from bench.machine.device import make_deterministic; "
            "opt = MomentumSGD(torch.nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9); opt.zero_grad(); "
            "settings = make_deterministic(torch.device('cpu')); assert settings['deterministic_algorithms']; "
            "print('torch._dynamo' in sys.modules, 'torch._inductor' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False False"
