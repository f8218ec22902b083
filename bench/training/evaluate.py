"""Classification error of a model on tensors, in eval mode."""
import torch
from torch import nn

from bench.machine.device import model_device
from bench.machine.precision import compute_context


# Large chunks: a 50,000-image test set in 5 GEMMs per layer instead of 25 (the activations of mlp5
# at 10,000 images take 40 MB a layer).
EVAL_BATCH = 10_000


@torch.inference_mode()
def logits(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """The model's outputs in eval mode (no dropout), computed in batches on the model's device (where
    they stay), wherever `x` lives."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    with compute_context(device):
        out = torch.cat([model(x[i:i + batch_size].to(device)) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out.float() if out.dtype == torch.bfloat16 else out  # bf16 autocast: outputs compared in float32


def predictions(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    return logits(model, x, batch_size).argmax(1)


def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of misclassified examples, in [0, 1]."""
    return error_of(predictions(model, x), y)


def error_of(predicted: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of `predicted` that differ from `y`, in [0, 1]."""
    return (predicted != y.to(predicted.device)).sum().item() / len(y)  # exact count ratio, not a float32 mean
