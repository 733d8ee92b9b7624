--[[
  A session joins a channel (JOIN): its record goes into the channel's keys. If its client had no
  session in the channel yet, a `join` event is written. Joining again replaces the session's state
  (an `update` event if it changed and updates are on), like SET.
  A session whose end was already applied here (channel-leave-6 with `ended`) is refused: a JOIN
  that reaches Redis after the outbox processor left its channels must not leave a ghost member.
  Unless it is a rejoin: Redis lost the session, its edge registered it again (a new record, live)
  and listed the channel in it (track-channel-1) before this call, so its next end leaves it again.

  KEYS[1] clients   ZSET clientId, score 0
  KEYS[2] sessions  HASH <clientId>|<sessionId> -> {"node","joinedAt"[,"state"]}
  KEYS[3] index     ZSET <clientId>|<sessionId>, score 0 (includes/channel-member)
  KEYS[4] seq       STRING event counter
  KEYS[5] ended     ZSET sessionId -> when its end was applied
  KEYS[6] events    STREAM
  ARGV[1] channel  ARGV[2] sessionId  ARGV[3] clientId  ARGV[4] node  ARGV[5] state JSON or ''
  ARGV[6] events maxlen  ARGV[7] pub/sub channel  ARGV[8] 1 to write `update` events, 0 not to
  ARGV[9] 1 for a rejoin, 0 otherwise

  Returns { status, clients, sessions, event id or false }
  status: 'ok'; 'ended' (the session has ended: nothing written)
]]
local rcall = redis.call
--- @include "now-ms"
--- @include "channel-member"

local c = { clients = KEYS[1], sessions = KEYS[2], index = KEYS[3], seq = KEYS[4], ended = KEYS[5], events = KEYS[6] }
local channel, session_id, client_id, node, state = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local maxlen, pubsub, updates, rejoin = ARGV[6], ARGV[7], ARGV[8] == '1', ARGV[9] == '1'

if rejoin then
  rcall('ZREM', c.ended, session_id)
elseif rcall('ZSCORE', c.ended, session_id) then
  return { 'ended', rcall('ZCARD', c.clients), rcall('HLEN', c.sessions), false }
end
local now = now_ms()
local field = channel_member(client_id, session_id)
if rcall('HEXISTS', c.sessions, field) == 1 then
  local id = state ~= '' and set_member_state(c, maxlen, pubsub, updates, channel, session_id, client_id, state, now)
  return { 'ok', rcall('ZCARD', c.clients), rcall('HLEN', c.sessions), id }
end
local record = { node = node, joinedAt = now }
-- Kept as the text the edge normalised, not re-encoded by cjson (which would rewrite [] and big numbers).
if state ~= '' then record.state = state end
rcall('HSET', c.sessions, field, cjson.encode(record))
rcall('ZADD', c.index, 0, field)
local id = false
if rcall('ZADD', c.clients, 0, client_id) == 1 then
  id = emit_channel_event(c, maxlen, pubsub, { type = 'join', channel = channel, clientId = client_id,
    sessionId = session_id, node = node, reason = false, at = now })
end
return { 'ok', rcall('ZCARD', c.clients), rcall('HLEN', c.sessions), id }
