# The 8 x 8 digits read row by row (8 steps of 8 pixels) by an LSTM, classified from its last
# hidden state: the PyTorch original of lstm.cpp. Usage: python3 lstm.py DIGITS_CSV [EPOCHS]
import sys

import numpy as np
import torch
from torch import nn


class Reader(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.lstm = nn.LSTM(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x):  # x [B, 8 rows, 8 pixels]
        output, (h_n, c_n) = self.lstm(x)
        return self.head(h_n[-1])


data = np.loadtxt(sys.argv[1], delimiter=",")
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
x = torch.tensor(data[:, :-1] / 16, dtype=torch.float32).reshape(-1, 8, 8)
y = torch.tensor(data[:, -1], dtype=torch.long)
train, test = slice(0, 1500), slice(1500, None)
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[train], y[train]), batch_size=64, shuffle=True)
torch.manual_seed(0)
model = Reader()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for epoch in range(1, epochs + 1):
    total = 0.0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    with torch.no_grad():
        accuracy = (model(x[test]).argmax(1) == y[test]).float().mean().item()
    print(f"epoch {epoch}: training loss {total / 1500:.4f}, test accuracy {accuracy:.3f}")
