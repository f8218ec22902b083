"""Classification error of a model on tensors, in eval mode."""
import torch
from torch import nn


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of misclassified examples, in [0, 1]."""
    return (predictions(model, x) != y).float().mean().item()
