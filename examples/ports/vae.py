# A variational autoencoder of the 8 x 8 digits: the PyTorch original of vae.cpp.
# Usage: python3 vae.py DIGITS_CSV [EPOCHS]
import sys

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class VAE(nn.Module):
    def __init__(self, latent=4):
        super().__init__()
        self.encoder = nn.Linear(64, 32)
        self.mean = nn.Linear(32, latent)
        self.log_var = nn.Linear(32, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, 32), nn.Tanh(), nn.Linear(32, 64))

    def forward(self, x):
        h = torch.tanh(self.encoder(x))
        mean, log_var = self.mean(h), self.log_var(h)
        z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        return self.decoder(z), mean, log_var


def loss_of(logits, x, mean, log_var):
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + log_var - mean**2 - torch.exp(log_var))
    return (reconstruction + kl) / len(x)


data = np.loadtxt(sys.argv[1], delimiter=",")
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
x = torch.tensor(data[:, :-1] / 16, dtype=torch.float32)
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=64, shuffle=True)
torch.manual_seed(0)
model = VAE()
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(1, epochs + 1):
    total = 0.0
    for (xb,) in loader:
        optimizer.zero_grad()
        logits, mean, log_var = model(xb)
        loss = loss_of(logits, xb, mean, log_var)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    print(f"epoch {epoch}: negative ELBO per image {total / len(x):.3f}")
