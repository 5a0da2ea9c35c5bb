"""Hosts: networks Esper can cut at named injection points and grow seeds inside."""

from esper_shell.hosts.cnn import CNNHost
from esper_shell.hosts.conv1d import Conv1DHost
from esper_shell.hosts.protocol import (
    CNN_TOPOLOGY,
    CONV1D_TOPOLOGY,
    TRANSFORMER_TOPOLOGY,
    HostInputError,
    HostProtocol,
    HostRoutingError,
    UnitHost,
)
from esper_shell.hosts.transformer import TransformerHost

__all__ = [
    "CNN_TOPOLOGY",
    "CONV1D_TOPOLOGY",
    "TRANSFORMER_TOPOLOGY",
    "CNNHost",
    "Conv1DHost",
    "HostInputError",
    "HostProtocol",
    "HostRoutingError",
    "TransformerHost",
    "UnitHost",
]
