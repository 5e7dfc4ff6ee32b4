"""The PyTorch half of the round trip (torch_interop.sh), in float64: loads xtgrad's checkpoint
into the equivalent torch.nn model with load_state_dict (strict) and compares outputs, then
saves a model PyTorch initialised, with its output, for xtgrad to load."""
import sys

import numpy as np
import torch

directory = sys.argv[1]
torch.set_default_dtype(torch.float64)


def model():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                               torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 10),
                               torch.nn.LayerNorm(10))


def counters(m):
    # BatchNorm's num_batches_tracked: PyTorch's step counter (used only with momentum=None),
    # which xtgrad does not keep
    return {k: v for k, v in m.state_dict().items() if k.endswith("num_batches_tracked")}


m = model()
saved = np.load(f"{directory}/xtgrad_model.npz")
assert int(saved["format_version"][0]) == 2, "not a format 2 checkpoint"
state = {k: torch.from_numpy(saved[k]) for k in saved.files if k != "format_version"}
state.update(counters(m))
m.load_state_dict(state)  # strict: every name and shape must match
m.eval()
io = np.load(f"{directory}/xtgrad_io.npz")
err = np.abs(m(torch.from_numpy(io["input"])).detach().numpy() - io["output"]).max()
print(f"xtgrad's checkpoint in PyTorch {torch.__version__}: largest difference from xtgrad's output {err:.3g}")
assert err < 1e-12

# the recurrent layers with xtgrad's weights: outputs and last states
sequences = np.load(f"{directory}/xtgrad_sequences.npz")
seq = torch.from_numpy(sequences["input"])
for name, layer in (("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)):
    rnn = layer(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    weights = np.load(f"{directory}/xtgrad_{name}.npz")
    rnn.load_state_dict({k: torch.from_numpy(weights[k]) for k in weights.files if k != "format_version"})
    output, state = rnn(seq)
    h_n = state[0] if name == "lstm" else state
    err = max(np.abs(output.detach().numpy() - sequences[f"{name}_output"]).max(),
              np.abs(h_n.detach().numpy() - sequences[f"{name}_h_n"]).max())
    if name == "lstm":
        err = max(err, np.abs(state[1].detach().numpy() - sequences["lstm_c_n"]).max())
    print(f"xtgrad's {name.upper()} in PyTorch: largest difference in outputs and states {err:.3g}")
    assert err < 1e-12



def load(module, name):
    weights = np.load(f"{directory}/xtgrad_{name}.npz")
    module.load_state_dict({k: torch.from_numpy(weights[k]) for k in weights.files if k != "format_version"})
    return module.eval()


# attention with xtgrad's weights: outputs and attention weights, every mask convention
att = {k: torch.from_numpy(v) for k, v in np.load(f"{directory}/xtgrad_attention.npz").items()}
pad, band = att["pad"].bool(), att["band"].bool()
packed = load(torch.nn.MultiheadAttention(6, 3, batch_first=True), "mha_packed")
separate = load(torch.nn.MultiheadAttention(6, 2, kdim=3, vdim=4, batch_first=True), "mha_separate")
out, weights = packed(att["q"], att["kv"], att["kv"], key_padding_mask=pad, attn_mask=band)
err = max(np.abs(out.detach().numpy() - att["packed_output"].numpy()).max(),
          np.abs(weights.detach().numpy() - att["packed_weights"].numpy()).max())
out, weights = separate(att["q"], att["k3"], att["v4"], key_padding_mask=pad, average_attn_weights=False)
err = max(err, np.abs(out.detach().numpy() - att["separate_output"].numpy()).max(),
          np.abs(weights.detach().numpy() - att["separate_weights"].numpy()).max())
print(f"xtgrad's MultiheadAttention in PyTorch: largest difference in outputs and weights {err:.3g}")
assert err < 1e-12
causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)  # torch 1.13 has no is_causal
for name, activation, norm_first in (("post", "relu", False), ("pre", "gelu", True)):
    layer = load(torch.nn.TransformerEncoderLayer(6, 3, dim_feedforward=8, activation=activation,
                                                  batch_first=True, norm_first=norm_first), f"encoder_{name}")
    out = layer(att["x"], src_mask=causal, src_key_padding_mask=pad)
    err = np.abs(out.detach().numpy() - att[f"{name}_output"].numpy()).max()
    print(f"xtgrad's TransformerEncoderLayer ({name}-norm, {activation}) in PyTorch: largest difference {err:.3g}")
    assert err < 1e-12

torch.manual_seed(0)
theirs = model()
theirs(torch.randn(8, 1, 8, 8))  # a training step's statistics
theirs.eval()
x = torch.randn(3, 1, 8, 8)
arrays = {k: v.numpy() for k, v in theirs.state_dict().items() if k not in counters(theirs)}
np.savez(f"{directory}/torch_model.npz", format_version=np.array([2.0]), **arrays)
np.savez(f"{directory}/torch_io.npz", input=x.numpy(), output=theirs(x).detach().numpy())
