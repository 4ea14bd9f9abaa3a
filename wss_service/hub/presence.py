"""
Presence in Redis, kept by Lua scripts so that each call is one round trip
and atomic. Every key and channel starts with the deployment's prefix P
(by default C{wss:DB:}, so two deployments on one Redis never meet: Redis
pub/sub ignores the database number). Keys:

  - C{P nodes}: sorted set, node -> its last heartbeat (Redis's clock, ms);
    C{P reaping}: nodes gone silent whose entries are being removed
  - C{P n:NODE}: set, the client ids a node holds
  - C{P c:CLIENT}: hash, C{u} -> the client's uid; C{P cg:CLIENT}: set, its
    groups; C{P s:CLIENT}: hash, its session (key -> JSON value)
  - C{P u:UID}, C{P g:GROUP}: sets of client ids; C{P un:UID}, C{P gn:GROUP}:
    hashes, node -> how many of them that node holds; C{P uids}, C{P groups}:
    the uids and groups that have members
  - C{P idem:KEY}: the answer of a send with that idempotency key (5 minutes)
  - C{P h:STREAM}: a Redis Stream of the messages kept for a stream with
    history, entry id C{OFFSET-1}, fields C{d} (data), C{b} (1 if binary),
    C{p} (the message's positions in every stream it went to), C{s} (its
    place among every kept message, from C{P hseq}); C{P hm:STREAM}:
    hash, C{e} -> the stream's epoch, C{o} -> its last offset

A node's entries count only while its heartbeat is fresh (L{DEAD_MS}).
Sends and counts read the per-node hashes, so what they cost Redis grows
with the number of processes, never with the audience; a heartbeat also
removes the entries of silent nodes, L{REAP_BATCH} clients at a time, so
no script runs long. Scripts that change what another node holds, or send
to it, publish one message on that node's channel (C{P node:NODE}), and
only to the nodes that hold a target; C{P all} reaches every node. Each
heartbeat also publishes a beat on the node's own channel: the subscriber
connection is known to work while beats come through.
"""

import re

from wss_service.errors import ConfigurationError
from wss_service.hub.history import History, metaSeconds

HEARTBEAT_SECONDS = 1.0
DEAD_MS = 5000
REAP_BATCH = 1000
IDEMPOTENCY_SECONDS = 300
BEAT = '{"op":"beat"}'
PREFIX = re.compile(r"[A-Za-z0-9_.:{}-]{1,64}")

COMMON = """
local P = '%(prefix)s'
local DEAD = %(dead)d
local INDEX = {u = 'uids', g = 'groups'}
local function nodeOf(cid) return string.match(cid, "^([0-9a-f]+)%%-") end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local aliveNodes = {}
local function alive(node)
  if aliveNodes[node] == nil then
    local beat = redis.call('ZSCORE', P .. 'nodes', node)
    aliveNodes[node] = (beat and tonumber(beat) > now() - DEAD) or false
  end
  return aliveNodes[node]
end
local function exists(cid)
  local node = nodeOf(cid)
  return node ~= nil and alive(node) and redis.call('SISMEMBER', P .. 'n:' .. node, cid) == 1
end
-- A node's writes about its own connections: it holds them, whether or
-- not its heartbeat has reached Redis yet.
local function mine(cid, caller) return nodeOf(cid) == caller end
local function notify(node, caller, message)
  if node ~= caller then redis.call('PUBLISH', P .. 'node:' .. node, message) end
end
local function add(kind, name, cid)
  if redis.call('SADD', P .. kind .. ':' .. name, cid) == 1 then
    redis.call('HINCRBY', P .. kind .. 'n:' .. name, nodeOf(cid), 1)
    redis.call('SADD', P .. INDEX[kind], name)
  end
end
local function remove(kind, name, cid)
  if redis.call('SREM', P .. kind .. ':' .. name, cid) == 1 then
    local counts = P .. kind .. 'n:' .. name
    if redis.call('HINCRBY', counts, nodeOf(cid), -1) <= 0 then
      redis.call('HDEL', counts, nodeOf(cid))
    end
    if redis.call('SCARD', P .. kind .. ':' .. name) == 0 then
      redis.call('SREM', P .. INDEX[kind], name)
      redis.call('DEL', counts)
    end
  end
end
-- Members of a uid (u) or group (g) on live nodes other than the caller:
-- their number and their nodes. Costs one read per node.
local function counted(kind, name, caller)
  local total, nodes = 0, {}
  local counts = redis.call('HGETALL', P .. kind .. 'n:' .. name)
  for i = 1, #counts, 2 do
    local node, n = counts[i], tonumber(counts[i + 1])
    if node ~= caller and n > 0 and alive(node) then
      total = total + n
      nodes[node] = true
    end
  end
  return total, nodes
end
local function setUid(cid, uid)
  local old = redis.call('HGET', P .. 'c:' .. cid, 'u')
  if old == uid then return end
  if old then remove('u', old, cid) end
  if uid then
    redis.call('HSET', P .. 'c:' .. cid, 'u', uid)
    add('u', uid, cid)
  else
    redis.call('HDEL', P .. 'c:' .. cid, 'u')
  end
end
local function join(cid, group)
  redis.call('SADD', P .. 'cg:' .. cid, group)
  add('g', group, cid)
end
local function leave(cid, group)
  redis.call('SREM', P .. 'cg:' .. cid, group)
  remove('g', group, cid)
end
local function forget(cid)
  setUid(cid, false)
  for _, g in ipairs(redis.call('SMEMBERS', P .. 'cg:' .. cid)) do remove('g', g, cid) end
  redis.call('DEL', P .. 'c:' .. cid, P .. 'cg:' .. cid, P .. 's:' .. cid)
  local node = nodeOf(cid)
  if node then redis.call('SREM', P .. 'n:' .. node, cid) end
end
local function live(cids)
  local found = {}
  for _, cid in ipairs(cids) do
    if alive(nodeOf(cid) or '') then table.insert(found, cid) end
  end
  return found
end
local function named(kind)
  local found = {}
  for _, name in ipairs(redis.call('SMEMBERS', P .. INDEX[kind])) do
    if counted(kind, name, '') > 0 then table.insert(found, name) end
  end
  return found
end
"""

# ARGV: node. Returns {1 if Redis did not know the node (it restarted
# empty, or reaped us), nodes found dead}.
HEARTBEAT = """
local node = ARGV[1]
redis.call('SREM', P .. 'reaping', node)
local fresh = redis.call('ZADD', P .. 'nodes', now(), node)
local dead = redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', now() - DEAD)
for _, gone in ipairs(dead) do
  redis.call('ZREM', P .. 'nodes', gone)
  redis.call('SADD', P .. 'reaping', gone)
end
local budget = %(batch)d
for _, gone in ipairs(redis.call('SMEMBERS', P .. 'reaping')) do
  if budget <= 0 then break end
  local cids = redis.call('SRANDMEMBER', P .. 'n:' .. gone, budget)
  for _, cid in ipairs(cids) do forget(cid) end
  budget = budget - #cids
  if redis.call('SCARD', P .. 'n:' .. gone) == 0 then redis.call('SREM', P .. 'reaping', gone) end
end
redis.call('PUBLISH', P .. 'node:' .. node, '%(beat)s')
return {fresh, #dead}
"""

# ARGV: node, JSON [[cid, uid or null, [group, ...], dirty], ...]: every
# connection the node holds. What Redis knows of a clean one wins (another
# process may have changed it while this one could not hear); a dirty one
# (changed here while Redis could not be told), or one Redis does not know,
# is written as the node has it. Entries of connections the node no longer
# holds go. Returns [[cid, uid or '', [group, ...]], ...] for the clean ones.
SYNC = """
local node = ARGV[1]
redis.call('SREM', P .. 'reaping', node)
redis.call('ZADD', P .. 'nodes', now(), node)
local entries = cjson.decode(ARGV[2])
local held = {}
for _, e in ipairs(entries) do held[e[1]] = true end
for _, cid in ipairs(redis.call('SMEMBERS', P .. 'n:' .. node)) do
  if not held[cid] then forget(cid) end
end
local view = {}
for _, e in ipairs(entries) do
  local cid, uid, groups, dirty = e[1], e[2], e[3], e[4]
  if dirty == 1 or redis.call('SISMEMBER', P .. 'n:' .. node, cid) == 0 then
    redis.call('SADD', P .. 'n:' .. node, cid)
    setUid(cid, uid ~= cjson.null and uid or false)
    local wanted = {}
    for _, g in ipairs(groups) do
      wanted[g] = true
      join(cid, g)
    end
    for _, g in ipairs(redis.call('SMEMBERS', P .. 'cg:' .. cid)) do
      if not wanted[g] then leave(cid, g) end
    end
  else
    table.insert(view, {cid, redis.call('HGET', P .. 'c:' .. cid, 'u') or '',
                        redis.call('SMEMBERS', P .. 'cg:' .. cid)})
  end
end
return view
"""

# ARGV: node. A node that stops takes its entries with it.
DEREGISTER = """
for _, cid in ipairs(redis.call('SMEMBERS', P .. 'n:' .. ARGV[1])) do forget(cid) end
redis.call('ZREM', P .. 'nodes', ARGV[1])
return 1
"""

# ARGV: node, cid.
REGISTER = "redis.call('SADD', P .. 'n:' .. ARGV[1], ARGV[2]) return 1"

# ARGV: cid.
UNREGISTER = "forget(ARGV[1]) return 1"

# ARGV: caller, cid, uid, message. 0 if the client is not online.
BIND = """
local caller, cid = ARGV[1], ARGV[2]
if not mine(cid, caller) and not exists(cid) then return 0 end
setUid(cid, ARGV[3])
notify(nodeOf(cid), caller, ARGV[4])
return 1
"""

UNBIND = """
local caller, cid = ARGV[1], ARGV[2]
if not mine(cid, caller) and not exists(cid) then return 0 end
if redis.call('HGET', P .. 'c:' .. cid, 'u') == ARGV[3] then setUid(cid, false) end
notify(nodeOf(cid), caller, ARGV[4])
return 1
"""

# ARGV: caller, cid, group, message, join or leave.
MEMBERSHIP = """
local caller, cid = ARGV[1], ARGV[2]
if not mine(cid, caller) and not exists(cid) then return 0 end
if ARGV[5] == 'join' then join(cid, ARGV[3]) else leave(cid, ARGV[3]) end
notify(nodeOf(cid), caller, ARGV[4])
return 1
"""

# ARGV: caller, group, message. The number of members it had.
UNGROUP = """
local caller, group = ARGV[1], ARGV[2]
local members = redis.call('SMEMBERS', P .. 'g:' .. group)
local nodes = {}
for _, cid in ipairs(members) do
  redis.call('SREM', P .. 'cg:' .. cid, group)
  nodes[nodeOf(cid) or ''] = true
end
redis.call('DEL', P .. 'g:' .. group, P .. 'gn:' .. group)
redis.call('SREM', P .. 'groups', group)
for node in pairs(nodes) do notify(node, caller, ARGV[3]) end
return #members
"""

# ARGV: caller, kind (client, uid, group, all), JSON [key, ...], message,
# JSON [excluded cid, ...], idempotency key or '', how many the caller
# reaches itself, JSON [[stream with history, epoch if it has none], ...],
# data and 1 if binary (kept in those streams). Publishes to the nodes that
# hold a target, the message with its positions; returns {0, how many are
# reached in all, JSON positions [[stream, epoch, offset], ...]}, or {1,
# the first answer} for a repeated idempotency key. Reads per node and per
# excluded client, never per member.
SEND = """
local caller, kind, keys, message = ARGV[1], ARGV[2], cjson.decode(ARGV[3]), ARGV[4]
local excluded, idempotency = cjson.decode(ARGV[5]), ARGV[6]
if idempotency ~= '' then
  local first = redis.call('GET', P .. 'idem:' .. idempotency)
  if first then return {1, first} end
end
local kept, positions = cjson.decode(ARGV[8]), '[]'
if #kept > 0 then
  local at = {}
  for i, stream in ipairs(kept) do
    local meta = P .. 'hm:' .. stream[1]
    if redis.call('HSETNX', meta, 'e', stream[2]) == 1 then redis.call('HSET', meta, 'o', 0) end
    at[i] = {stream[1], redis.call('HGET', meta, 'e'), redis.call('HINCRBY', meta, 'o', 1)}
    redis.call('EXPIRE', meta, %(meta)d)
  end
  positions = cjson.encode(at)
  local order = redis.call('INCR', P .. 'hseq')
  for _, position in ipairs(at) do
    local key = P .. 'h:' .. position[1]
    redis.call('XADD', key, 'MAXLEN', %(size)d, position[3] .. '-1', 'd', ARGV[9], 'b', ARGV[10],
               'p', positions, 's', order)
    redis.call('EXPIRE', key, %(ttl)d)
  end
  message = string.sub(message, 1, -2) .. ',"h":' .. positions .. '}'
end
local total = 0
local function elsewhere(cid)
  local node = nodeOf(cid)
  return node ~= nil and node ~= caller and alive(node)
end
if kind == 'all' then
  for _, node in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', now() - DEAD, '+inf')) do
    if node ~= caller then total = total + redis.call('SCARD', P .. 'n:' .. node) end
  end
  for _, cid in ipairs(excluded) do
    if elsewhere(cid) and redis.call('SISMEMBER', P .. 'n:' .. nodeOf(cid), cid) == 1 then
      total = total - 1
    end
  end
  redis.call('PUBLISH', P .. 'all', message)
elseif kind == 'client' then
  local cid = keys[1]
  local out = false
  for _, x in ipairs(excluded) do out = out or x == cid end
  if not out and nodeOf(cid) ~= caller and exists(cid) then
    total = 1
    notify(nodeOf(cid), caller, message)
  end
else
  local short = kind == 'uid' and 'u' or 'g'
  local nodes = {}
  for _, key in ipairs(keys) do
    local n, found = counted(short, key, caller)
    total = total + n
    for node in pairs(found) do nodes[node] = true end
    for _, cid in ipairs(excluded) do
      if elsewhere(cid) and redis.call('SISMEMBER', P .. short .. ':' .. key, cid) == 1 then
        total = total - 1
      end
    end
  end
  for node in pairs(nodes) do notify(node, caller, message) end
end
total = total + tonumber(ARGV[7])
if idempotency ~= '' then
  redis.call('SET', P .. 'idem:' .. idempotency, total, 'EX', %(idempotency)d)
end
return {0, total, positions}
"""

# ARGV: stream, an epoch for it if it has none, offset to read after (-1:
# none), the reader's epoch ('' for the stream's own), most entries.
# Returns {epoch, offset, entries after it if the epochs agree}.
HISTORY = """
local meta = P .. 'hm:' .. ARGV[1]
if redis.call('HSETNX', meta, 'e', ARGV[2]) == 1 then
  redis.call('HSET', meta, 'o', 0)
  redis.call('EXPIRE', meta, %(meta)d)
end
local epoch = redis.call('HGET', meta, 'e')
local offset = tonumber(redis.call('HGET', meta, 'o'))
local since = tonumber(ARGV[3])
local entries = {}
if since >= 0 and since < offset and (ARGV[4] == '' or ARGV[4] == epoch) then
  entries = redis.call('XRANGE', P .. 'h:' .. ARGV[1], (since + 1) .. '-1', '+', 'COUNT', ARGV[5])
end
return {epoch, offset, entries}
"""

# ARGV: caller, cid, message. 0 if the client is not online.
CLOSE = """
if not exists(ARGV[2]) then return 0 end
notify(nodeOf(ARGV[2]), ARGV[1], ARGV[3])
return 1
"""

# ARGV: cid, 1 to replace (set) or 0 to merge (update), then key, JSON
# value, key, JSON value... 0 if the client is not online.
SESSION_SET = """
local cid = ARGV[1]
if not exists(cid) then return 0 end
if ARGV[2] == '1' then redis.call('DEL', P .. 's:' .. cid) end
for i = 3, #ARGV, 2 do redis.call('HSET', P .. 's:' .. cid, ARGV[i], ARGV[i + 1]) end
return 1
"""

# ARGV: cid. {0} if it is not online, else {1, key, JSON value, ...}.
SESSION_GET = """
if not exists(ARGV[1]) then return {0} end
local fields = redis.call('HGETALL', P .. 's:' .. ARGV[1])
table.insert(fields, 1, 1)
return fields
"""

# Queries. ARGV: what they ask about.
IS_ONLINE = "return exists(ARGV[1]) and 1 or 0"
CLIENTS_BY_UID = "return live(redis.call('SMEMBERS', P .. 'u:' .. ARGV[1]))"
CLIENTS_BY_GROUP = "return live(redis.call('SMEMBERS', P .. 'g:' .. ARGV[1]))"
CLIENT_COUNT_BY_UID = "return (counted('u', ARGV[1], ''))"
CLIENT_COUNT_BY_GROUP = "return (counted('g', ARGV[1], ''))"
UID_OF = """
if not exists(ARGV[1]) then return false end
return redis.call('HGET', P .. 'c:' .. ARGV[1], 'u')
"""
UIDS_BY_GROUP = """
local seen, found = {}, {}
for _, cid in ipairs(live(redis.call('SMEMBERS', P .. 'g:' .. ARGV[1]))) do
  local uid = redis.call('HGET', P .. 'c:' .. cid, 'u')
  if uid and not seen[uid] then
    seen[uid] = true
    table.insert(found, uid)
  end
end
return found
"""
CLIENT_COUNT = """
local count = 0
for _, node in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', now() - DEAD, '+inf')) do
  count = count + redis.call('SCARD', P .. 'n:' .. node)
end
return count
"""
UIDS = "return named('u')"
GROUPS = "return named('g')"

SCRIPTS = ("HEARTBEAT", "SYNC", "DEREGISTER", "REGISTER", "UNREGISTER", "BIND", "UNBIND",
           "MEMBERSHIP", "UNGROUP", "SEND", "HISTORY", "CLOSE", "SESSION_SET", "SESSION_GET", "IS_ONLINE",
           "CLIENTS_BY_UID", "CLIENTS_BY_GROUP", "CLIENT_COUNT_BY_UID", "CLIENT_COUNT_BY_GROUP",
           "UID_OF", "UIDS_BY_GROUP", "CLIENT_COUNT", "UIDS", "GROUPS")


def defaultPrefix(db):
    """The prefix of a deployment on database C{db}."""
    return f"wss:{db}:"


def checkPrefix(prefix):
    """
    @raise ConfigurationError: unless C{prefix} is 1 to 64 letters, digits
        or C{_ . : {{ }} -}.
    """
    if not PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            f"--redis-prefix {prefix!r}: use 1 to 64 letters, digits or _ . : {{ }} -; "
            f"e.g. --redis-prefix staging:")
    return prefix


class Presence:
    """
    The scripts and channel names of one deployment (one prefix), with
    its L{History} settings.

    Each script named in L{SCRIPTS} is an attribute: the Lua text to run.
    """

    def __init__(self, prefix, history=History()):
        self.prefix = checkPrefix(prefix)
        values = {"prefix": prefix, "dead": DEAD_MS, "batch": REAP_BATCH, "beat": BEAT,
                  "idempotency": IDEMPOTENCY_SECONDS, "size": history.size,
                  "ttl": max(1, round(history.ttl)), "meta": metaSeconds(history.ttl)}
        common = COMMON % values
        for name in SCRIPTS:
            setattr(self, name, common + globals()[name] % values)
        self.all = f"{prefix}all"

    def nodeChannel(self, node):
        return f"{self.prefix}node:{node}"
