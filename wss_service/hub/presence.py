"""
Presence in Redis, kept by Lua scripts so that each call is one round trip
and atomic. Keys (one Redis for the whole service):

  - C{wss:nodes}: sorted set, node -> its last heartbeat (Redis's clock, ms)
  - C{wss:n:NODE}: set, the client ids a node holds
  - C{wss:c:CLIENT}: hash, C{u} -> the client's uid; C{wss:cg:CLIENT}: set, its groups
  - C{wss:u:UID}, C{wss:g:GROUP}: sets of client ids; C{wss:uids}: uids online

A node's entries count only while its heartbeat is fresh (L{DEAD_MS}); the
heartbeat of every node also removes the entries of nodes that went
silent, so a killed process or a vanished machine leaves presence within
seconds. Scripts that change what another node holds, or send to it,
publish one message on that node's channel (C{wss:node:NODE}), and only to
the nodes that hold a target; C{wss:all} reaches every node.
"""

HEARTBEAT_SECONDS = 1.0
DEAD_MS = 5000
ALL = "wss:all"


def nodeChannel(node):
    return f"wss:node:{node}"


COMMON = """
local DEAD = %d
local function nodeOf(cid) return string.match(cid, "^([0-9a-f]+)%%-") end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local aliveNodes = {}
local function alive(node)
  if aliveNodes[node] == nil then
    local beat = redis.call('ZSCORE', 'wss:nodes', node)
    aliveNodes[node] = (beat and tonumber(beat) > now() - DEAD) or false
  end
  return aliveNodes[node]
end
local function exists(cid)
  local node = nodeOf(cid)
  return node ~= nil and redis.call('SISMEMBER', 'wss:n:' .. node, cid) == 1 and alive(node)
end
local function notify(node, caller, message)
  if node ~= caller then redis.call('PUBLISH', 'wss:node:' .. node, message) end
end
local function dropUid(cid, uid)
  redis.call('SREM', 'wss:u:' .. uid, cid)
  if redis.call('SCARD', 'wss:u:' .. uid) == 0 then redis.call('SREM', 'wss:uids', uid) end
end
local function forget(cid)
  local uid = redis.call('HGET', 'wss:c:' .. cid, 'u')
  if uid then dropUid(cid, uid) end
  for _, g in ipairs(redis.call('SMEMBERS', 'wss:cg:' .. cid)) do
    redis.call('SREM', 'wss:g:' .. g, cid)
  end
  redis.call('DEL', 'wss:c:' .. cid, 'wss:cg:' .. cid)
  local node = nodeOf(cid)
  if node then redis.call('SREM', 'wss:n:' .. node, cid) end
end
local function forgetNode(node)
  for _, cid in ipairs(redis.call('SMEMBERS', 'wss:n:' .. node)) do forget(cid) end
  redis.call('DEL', 'wss:n:' .. node)
end
local function live(cids, exclude)
  local found = {}
  for _, cid in ipairs(cids) do
    if not exclude[cid] and alive(nodeOf(cid) or '') then table.insert(found, cid) end
  end
  return found
end
""" % DEAD_MS


def _script(body):
    return COMMON + body


# ARGV: node. Returns {1 if Redis did not know the node (it restarted, or
# reaped us), nodes reaped}.
HEARTBEAT = _script("""
local node = ARGV[1]
local fresh = redis.call('ZADD', 'wss:nodes', now(), node)
local reaped = 0
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', 'wss:nodes', '-inf', now() - DEAD)) do
  forgetNode(dead)
  redis.call('ZREM', 'wss:nodes', dead)
  reaped = reaped + 1
end
return {fresh, reaped}
""")

# ARGV: node, JSON [[cid, uid or null, [group, ...]], ...]: what the node
# holds, replacing whatever Redis remembers of it.
RESTORE = _script("""
local node = ARGV[1]
forgetNode(node)
redis.call('ZADD', 'wss:nodes', now(), node)
for _, entry in ipairs(cjson.decode(ARGV[2])) do
  local cid, uid, groups = entry[1], entry[2], entry[3]
  redis.call('SADD', 'wss:n:' .. node, cid)
  if uid ~= cjson.null then
    redis.call('HSET', 'wss:c:' .. cid, 'u', uid)
    redis.call('SADD', 'wss:u:' .. uid, cid)
    redis.call('SADD', 'wss:uids', uid)
  end
  for _, g in ipairs(groups) do
    redis.call('SADD', 'wss:g:' .. g, cid)
    redis.call('SADD', 'wss:cg:' .. cid, g)
  end
end
return 1
""")

# ARGV: node. A node that stops takes its entries with it.
DEREGISTER = _script("""
forgetNode(ARGV[1])
redis.call('ZREM', 'wss:nodes', ARGV[1])
return 1
""")

# ARGV: node, cid.
REGISTER = _script("""
redis.call('SADD', 'wss:n:' .. ARGV[1], ARGV[2])
return 1
""")

# ARGV: cid.
UNREGISTER = _script("""
forget(ARGV[1])
return 1
""")

# ARGV: caller, cid, uid, message. 0 if the client is not online.
BIND = _script("""
local caller, cid, uid = ARGV[1], ARGV[2], ARGV[3]
if not exists(cid) then return 0 end
local old = redis.call('HGET', 'wss:c:' .. cid, 'u')
if old and old ~= uid then dropUid(cid, old) end
redis.call('HSET', 'wss:c:' .. cid, 'u', uid)
redis.call('SADD', 'wss:u:' .. uid, cid)
redis.call('SADD', 'wss:uids', uid)
notify(nodeOf(cid), caller, ARGV[4])
return 1
""")

UNBIND = _script("""
local caller, cid, uid = ARGV[1], ARGV[2], ARGV[3]
if not exists(cid) then return 0 end
if redis.call('HGET', 'wss:c:' .. cid, 'u') == uid then
  redis.call('HDEL', 'wss:c:' .. cid, 'u')
  dropUid(cid, uid)
end
notify(nodeOf(cid), caller, ARGV[4])
return 1
""")

# ARGV: caller, cid, group, message, SADD (join) or SREM (leave).
MEMBERSHIP = _script("""
local caller, cid, group, command = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
if not exists(cid) then return 0 end
redis.call(command, 'wss:g:' .. group, cid)
redis.call(command, 'wss:cg:' .. cid, group)
notify(nodeOf(cid), caller, ARGV[4])
return 1
""")

# ARGV: caller, group, message. The number of members it had.
UNGROUP = _script("""
local caller, group = ARGV[1], ARGV[2]
local members = redis.call('SMEMBERS', 'wss:g:' .. group)
local nodes = {}
for _, cid in ipairs(members) do
  redis.call('SREM', 'wss:cg:' .. cid, group)
  nodes[nodeOf(cid) or ''] = true
end
redis.call('DEL', 'wss:g:' .. group)
for node in pairs(nodes) do notify(node, caller, ARGV[3]) end
return #members
""")

# ARGV: caller, kind (client, uid, group, all), key, message, JSON exclude.
# Publishes to the nodes that hold a target; the number of live targets.
SEND = _script("""
local caller, kind, key, message = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local exclude = {}
for _, cid in ipairs(cjson.decode(ARGV[5])) do exclude[cid] = true end
if kind == 'all' then
  local count = 0
  for _, node in ipairs(redis.call('ZRANGEBYSCORE', 'wss:nodes', now() - DEAD, '+inf')) do
    count = count + #live(redis.call('SMEMBERS', 'wss:n:' .. node), exclude)
  end
  redis.call('PUBLISH', 'wss:all', message)
  return count
end
local targets
if kind == 'client' then
  targets = (exists(key) and not exclude[key]) and {key} or {}
else
  targets = live(redis.call('SMEMBERS', 'wss:' .. (kind == 'uid' and 'u' or 'g') .. ':' .. key),
                 exclude)
end
local nodes = {}
for _, cid in ipairs(targets) do nodes[nodeOf(cid)] = true end
for node in pairs(nodes) do notify(node, caller, message) end
return #targets
""")

# ARGV: caller, cid, message. 0 if the client is not online.
CLOSE = _script("""
if not exists(ARGV[2]) then return 0 end
notify(nodeOf(ARGV[2]), ARGV[1], ARGV[3])
return 1
""")

# Queries. ARGV: what they ask about.
IS_ONLINE = _script("return exists(ARGV[1]) and 1 or 0")
CLIENTS_BY_UID = _script("return live(redis.call('SMEMBERS', 'wss:u:' .. ARGV[1]), {})")
CLIENTS_BY_GROUP = _script("return live(redis.call('SMEMBERS', 'wss:g:' .. ARGV[1]), {})")
UID_OF = _script("""
if not exists(ARGV[1]) then return false end
return redis.call('HGET', 'wss:c:' .. ARGV[1], 'u')
""")
CLIENT_COUNT = _script("""
local count = 0
for _, node in ipairs(redis.call('ZRANGEBYSCORE', 'wss:nodes', now() - DEAD, '+inf')) do
  count = count + redis.call('SCARD', 'wss:n:' .. node)
end
return count
""")
UID_COUNT = _script("return redis.call('SCARD', 'wss:uids')")
