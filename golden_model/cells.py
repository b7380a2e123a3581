"""The recurrent cells the models support and their gates, in PyTorch order."""

LSTM = "lstm"
GRU = "gru"
CELLS = (LSTM, GRU)
GATES = {LSTM: ("i", "f", "g", "o"), GRU: ("r", "z", "n")}
