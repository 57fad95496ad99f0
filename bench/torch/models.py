"""The PyTorch twins of nabla's Fashion-MNIST models, shared by the scripts of bench/torch:
the MLP of examples/specs/fmnist_mlp.spec (784-256-128-10, ReLU) and the CNN of
examples/specs/fmnist_cnn.spec (conv 5x5 32, ReLU, max-pool 2, conv 5x5 64, ReLU, max-pool 2,
dense 128, ReLU, dense 10). Import after blas_threads (it imports torch)."""
import torch


def fmnist_mlp():
    return torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))


def fmnist_cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(1024, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))
