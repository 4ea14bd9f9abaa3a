"""
The hub: reach any connection, user id (uid), group or everyone, from the
app (C{self.hub}) and from a backend (the HTTP API, L{client}).

Every connection gets a client id that names the process holding it
(L{ids}). A process keeps its own connections, uids and groups
(L{local}); L{hub.Hub} serves what is local at once and, with C{--redis},
the rest through Redis (L{redis}): presence lives there (L{presence}), and a
send is published only to the processes that hold a target. Without
C{--redis}, one process's hub works in memory.
"""
