# A causal self-attention block, with a key-padding mask, learning to continue sine waves of
# different lengths: the PyTorch original of attention.cpp. Usage: python3 attention.py [EPOCHS]
import math
import sys

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x, padding):  # x [B, T, D]; padding [B, T], true past a sequence's end
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(x.shape[-1])
        future = torch.triu(torch.ones(x.shape[1], x.shape[1], dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(future | padding[:, None, :], float("-inf"))
        return self.out(torch.softmax(scores, dim=-1) @ v)


class Model(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.embed = nn.Linear(1, dim)
        self.attention = CausalSelfAttention(dim)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 1)

    def forward(self, x, padding):
        h = self.embed(x)
        return self.head(self.norm(h + self.attention(h, padding)))


torch.manual_seed(0)
n, steps = 256, 24
t = torch.arange(steps + 1, dtype=torch.float32)
series = torch.sin((0.2 + 0.3 * torch.rand(n, 1)) * t + 2 * math.pi * torch.rand(n, 1))
x, target = series[:, :-1, None], series[:, 1:, None]
padding = torch.arange(steps)[None, :] >= torch.randint(steps // 2, steps + 1, (n, 1))
model = Model()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
for epoch in range(1, epochs + 1):
    total = 0.0
    for b in range(0, n, 32):
        optimizer.zero_grad()
        keep = ~padding[b:b + 32, :, None]
        error = (model(x[b:b + 32], padding[b:b + 32]) - target[b:b + 32]) ** 2
        loss = (error * keep).sum() / keep.sum()
        loss.backward()
        optimizer.step()
        total += loss.item()
    print(f"epoch {epoch}: mean squared error {total / (n // 32):.4f}")
