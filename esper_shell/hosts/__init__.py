"""Hosts: networks Esper can cut at named injection points and grow seeds inside."""

from esper_shell.hosts.cnn import CNNHost
from esper_shell.hosts.protocol import (
    CNN_TOPOLOGY,
    TRANSFORMER_TOPOLOGY,
    HostInputError,
    HostProtocol,
    HostRoutingError,
    UnitHost,
)
from esper_shell.hosts.transformer import TransformerHost

__all__ = [
    "CNN_TOPOLOGY",
    "TRANSFORMER_TOPOLOGY",
    "CNNHost",
    "HostInputError",
    "HostProtocol",
    "HostRoutingError",
    "TransformerHost",
    "UnitHost",
]
