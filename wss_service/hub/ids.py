"""
Client ids: C{NODE-N}, where NODE is random for each process start and N
counts up, so an id is never reused (not even after a restart) and tells
which process holds the connection.
"""

import itertools
import os
import re

NODE = re.compile(r"[0-9a-f]{12}")


def newNode():
    return os.urandom(6).hex()


class ClientIds:
    """The ids of one process's connections."""

    def __init__(self, node):
        self.node = node
        self._counter = itertools.count(1)

    def next(self):
        return f"{self.node}-{next(self._counter):x}"


def nodeOf(clientId):
    """The node that holds C{clientId}, or L{None} if it is not a client id."""
    node, dash, number = clientId.partition("-")
    if dash and NODE.fullmatch(node) and re.fullmatch(r"[0-9a-f]+", number):
        return node
    return None
