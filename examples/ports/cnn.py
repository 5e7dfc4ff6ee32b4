# A CNN with BatchNorm and Dropout on the 8 x 8 digits: the PyTorch original of cnn.cpp.
# Usage: python3 cnn.py DIGITS_CSV [EPOCHS]
import sys

import numpy as np
import torch
from torch import nn

data = np.loadtxt(sys.argv[1], delimiter=",")
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
x = torch.tensor(data[:, :-1] / 16, dtype=torch.float32).reshape(-1, 1, 8, 8)
y = torch.tensor(data[:, -1], dtype=torch.long)
train, test = slice(0, 1500), slice(1500, None)
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[train], y[train]), batch_size=64, shuffle=True)
torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Dropout(0.25), nn.Linear(128, 10))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for epoch in range(1, epochs + 1):
    model.train()
    total = 0.0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    model.eval()
    with torch.no_grad():
        accuracy = (model(x[test]).argmax(1) == y[test]).float().mean().item()
    print(f"epoch {epoch}: training loss {total / 1500:.4f}, test accuracy {accuracy:.3f}")
