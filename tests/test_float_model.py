"""The float reference equals PyTorch (DESIGN.md 3.1)."""

import numpy as np
import pytest

from golden_model import Network, from_torch
from golden_model.torch_import import network_from_checkpoint

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


@pytest.mark.parametrize("cls", [torch.nn.LSTM, torch.nn.GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (1, True), (3, True)])
def test_forward_equals_torch(cls, layers, bidirectional):
    torch.manual_seed(layers)
    m = cls(5, 7, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    x = np.random.default_rng(layers).standard_normal((4, 9, 5)).astype(np.float32)
    ref = m(torch.from_numpy(x))[0].detach().numpy()
    for source in (m, m.state_dict()):
        out = from_torch(source).forward(x)
        assert out.shape == ref.shape
        assert np.max(np.abs(out - ref)) < 1e-5


@pytest.mark.parametrize("cls", [torch.nn.LSTM, torch.nn.GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_variable_lengths_equal_packed_sequences(cls, bidirectional):
    torch.manual_seed(3)
    m = cls(3, 6, num_layers=2, bidirectional=bidirectional, batch_first=True)
    rng = np.random.default_rng(3)
    lengths = np.array([7, 2, 5, 1, 7])
    x = rng.standard_normal((5, 7, 3)).astype(np.float32)
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lengths),
                                                     batch_first=True, enforce_sorted=False)
    ref, _ = torch.nn.utils.rnn.pad_packed_sequence(m(packed)[0], batch_first=True, total_length=7)
    out = from_torch(m).forward(x, lengths)
    assert np.max(np.abs(out - ref.detach().numpy())) < 1e-5


def test_checkpoint_with_head_round_trips(tmp_path):
    torch.manual_seed(0)
    rnn, head = torch.nn.GRU(4, 5, batch_first=True), torch.nn.Linear(5, 3)
    state = {f"rnn.{k}": v for k, v in rnn.state_dict().items()}
    state |= {f"head.{k}": v for k, v in head.state_dict().items()}
    net = network_from_checkpoint(state)
    net.save(tmp_path / "m.npz")
    loaded = Network.load(tmp_path / "m.npz")
    x = np.random.default_rng(0).standard_normal((2, 6, 4)).astype(np.float32)
    logits = head(rnn(torch.from_numpy(x))[0][:, -1]).detach().numpy()
    assert np.array_equal(loaded.predict(x), logits.argmax(axis=1))
    assert np.array_equal(loaded.forward(x), net.forward(x))


def test_module_type_and_projection_are_checked():
    with pytest.raises(TypeError, match="nn.LSTM or torch.nn.GRU"):
        from_torch(torch.nn.RNN(3, 4))
    with pytest.raises(ValueError, match="proj_size"):
        from_torch(torch.nn.LSTM(3, 4, proj_size=2))
