--[[
  Sessions of one shard ended at their edge node (BYE, socket closed, heartbeat timeout, node
  shutdown), in one call: the edge sends a burst of ends (a thousand sockets closing together) as
  one script call per shard instead of one each. Each session is handled in the order given, as if
  it were alone:

  - `leave` and `timeout` (or any reason with no grace) end it now; if it was the client's last
    session, the client goes offline and an offline event is written.
  - `closed` and `shutdown` with a grace > 0 leave it lingering: the record keeps the real end time
    and reason, and its deadline becomes end + grace. If the client comes back within the grace (a
    new session on any node) the lingering one is dropped silently; if not, the sweeper ends it and
    the offline event carries the real end time and reason. A lingering session keeps its first end.
  - A session Redis does not know (it restarted empty while the session was live) still makes its
    client offline, but only if no offline was recorded for the client since the session was
    registered, so a retried call (or the same session twice) can't write a second event.

  The writes to deadlines, meta, online, since and lastseen are issued once per call
  (deferred-writes). Of those, only online and lastseen are read again (by the unknown-session
  rule); a client that went offline earlier in this call is known from `offline_at` instead, so no
  deferred write is ever read back from Redis. Client hashes are written at once. Client keys are
  derived from ARGV[1], which carries the shard's hash tag, so every key touched lives in one slot.

  KEYS[1] deadlines  KEYS[2] meta  KEYS[3] online  KEYS[4] since  KEYS[5] lastseen  KEYS[6] events
  ARGV[1] client key prefix ("<prefix>:{sN}:client:")  ARGV[2] events maxlen  ARGV[3] channel
  ARGV[4] shard  ARGV[5] the shard's channel outbox (STREAM, same hash tag; includes/channel-outbox) or ''
  then 7 per session, from ARGV[6]: sessionId, clientId, reason, ended at (ms, Redis time as
  estimated by the edge) or '', grace (ms), node, registered at (ms) or ''

  Returns { now, then per session: offline event id or false, 1 if the session existed else 0 }
  Errors: 'ERR remove-sessions: ...' when the session arguments don't come in sevens (nothing written)
]]
local rcall = redis.call
--- @include "now-ms"
--- @include "go-offline"
--- @include "deferred-writes"
--- @include "end-session"

local FIRST, PER_SESSION = 6, 7
local client_prefix, maxlen, channel, shard = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if (#ARGV - FIRST + 1) % PER_SESSION ~= 0 then
  return redis.error_reply('ERR remove-sessions: ' .. (#ARGV - FIRST + 1) .. ' session arguments, not a multiple of 7')
end

local k = { deadlines = KEYS[1], client = false, meta = KEYS[2], online = KEYS[3], since = KEYS[4],
  lastseen = KEYS[5], events = KEYS[6], outbox = ARGV[5] ~= '' and ARGV[5] }
local deferred = new_deferred()
-- clientId -> when it went offline earlier in this call (its online/lastseen writes are deferred).
local offline_at = {}
local now = now_ms()

-- Returns the offline event id or false, and whether the session existed.
local function remove_session(session_id, client_id, reason, ended_at, grace, node, registered_at)
  k.client = client_prefix .. client_id
  local at = now
  if ended_at and ended_at < now then at = ended_at end

  local raw = rcall('HGET', k.client, session_id)
  if not raw then
    -- Unknown here. Report it if Redis lost the client's state since the session was registered.
    if not registered_at or rcall('HLEN', k.client) > 0 then return false, 0 end
    local seen = offline_at[client_id]
    if not seen then
      if rcall('ZSCORE', k.online, client_id) then return false, 0 end
      seen = rcall('ZSCORE', k.lastseen, client_id)
    end
    if seen and tonumber(seen) >= registered_at then return false, 0 end
    if at < registered_at then at = registered_at end
    offline_at[client_id] = at
    return go_offline(k, client_id, session_id, node, reason, at, maxlen, channel, shard, deferred), 0
  end

  local record = cjson.decode(raw)
  -- Already lingering: the first end wins.
  if record.endedAt then return false, 1 end
  if at < record.connectedAt then at = record.connectedAt end

  if grace > 0 and (reason == 'closed' or reason == 'shutdown') then
    record.endedAt = at
    record.reason = reason
    rcall('HSET', k.client, session_id, cjson.encode(record))
    rcall('ZADD', k.deadlines, at + grace, session_id .. '|' .. client_id)
    return false, 1
  end

  local result = end_session(k, session_id, client_id, reason, at, maxlen, channel, shard, record, deferred)
  if result == false or result == 0 then return false, 1 end
  offline_at[client_id] = at
  return result, 1
end

local reply = { now }
for i = FIRST, #ARGV, PER_SESSION do
  local id, existed = remove_session(ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]),
    ARGV[i + 5], tonumber(ARGV[i + 6]))
  reply[#reply + 1] = id
  reply[#reply + 1] = existed
end
flush_deferred(k, deferred)
return reply
