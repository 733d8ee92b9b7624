--[[
  Sessions leave a channel: by LEAVE (reason `left`) or because they ended (the outbox processor,
  with each session's end reason and time, many sessions of one channel per call). For each, if it
  was its client's last session in the channel, a `leave` event is written. Idempotent by session:
  a session not in the channel changes nothing and writes no event, so an outbox entry applied twice
  (the processor crashed before deleting it, or two processors raced) yields one leave. An end
  (`ended` = 1) is also recorded in `ended`, so a JOIN of the session that reaches Redis later is
  refused (channel-join-6); records older than the keep time are trimmed here, a bounded number per
  call.

  KEYS[1] clients   ZSET clientId
  KEYS[2] sessions  HASH <clientId>|<sessionId> -> record
  KEYS[3] index     ZSET <clientId>|<sessionId>
  KEYS[4] seq       STRING
  KEYS[5] ended     ZSET sessionId -> when its end was applied (ms)
  KEYS[6] events    STREAM
  ARGV[1] channel  ARGV[2] events maxlen  ARGV[3] pub/sub channel
  ARGV[4] 1 if the sessions ended, 0 for an explicit LEAVE  ARGV[5] how long `ended` records are kept (ms)
  then 5 per session, from ARGV[6]: sessionId, clientId, reason, at (ms, Redis time) or '' for now,
  and its node or '' to take it from its record (the outbox entry names it, so the processor's
  calls skip decoding the record)

  Returns { clients, sessions (after the call), then per session: 1 if it was in the channel else 0,
  the leave event id or false }
  Errors: 'ERR channel-leave: ...' when the session arguments don't come in fives (nothing written)

  Cost: a dead node's sessions leave a channel many per call, so the per-call reads and writes
  (the records, the occupancy, the event counter, `ended`, the sessions hash) are one command each;
  per session remain its index entry and the check for the client's other sessions, and per leave
  event the client's removal, XADD and PUBLISH.
]]
local rcall = redis.call
--- @include "now-ms"
--- @include "channel-member"

local FIRST, PER_SESSION = 6, 5
if (#ARGV - FIRST + 1) % PER_SESSION ~= 0 or #ARGV < FIRST then
  return redis.error_reply('ERR channel-leave: ' .. (#ARGV - FIRST + 1) .. ' session arguments, not a positive multiple of 5')
end
local c = { clients = KEYS[1], sessions = KEYS[2], index = KEYS[3], seq = KEYS[4], ended = KEYS[5], events = KEYS[6] }
local channel, maxlen, pubsub = ARGV[1], ARGV[2], ARGV[3]
local ended, keep_ms = ARGV[4] == '1', tonumber(ARGV[5])

local now = now_ms()
local fields, stamps = {}, {}
for i = FIRST, #ARGV, PER_SESSION do
  fields[#fields + 1] = channel_member(ARGV[i + 1], ARGV[i])
  stamps[#stamps + 1] = now
  stamps[#stamps + 1] = ARGV[i]
end
if ended then
  -- At most a few calls' worth of ends can fall due at once.
  local old = rcall('ZRANGEBYSCORE', c.ended, '-inf', now - keep_ms, 'LIMIT', 0, 100)
  if #old > 0 then rcall('ZREM', c.ended, unpack(old)) end
  rcall('ZADD', c.ended, unpack(stamps))
end

local records = rcall('HMGET', c.sessions, unpack(fields))
-- The occupancy after each event, counted down here instead of read again for each, and the event
-- counter, stored once at the end.
local seq = tonumber(rcall('GET', c.seq)) or 0
local occupancy = { clients = rcall('ZCARD', c.clients), sessions = rcall('HLEN', c.sessions), version = seq }
local results, leaving, seen = {}, {}, {}
for j = 1, #fields do
  local field = fields[j]
  if not records[j] or seen[field] then
    results[#results + 1] = 0
    results[#results + 1] = false
  else
    seen[field] = true
    leaving[#leaving + 1] = field
    local arg = FIRST + (j - 1) * PER_SESSION
    local session_id, client_id, reason = ARGV[arg], ARGV[arg + 1], ARGV[arg + 2]
    local at, node = tonumber(ARGV[arg + 3]) or now, ARGV[arg + 4]
    if node == '' then node = cjson.decode(records[j]).node or '' end
    rcall('ZREM', c.index, field)
    occupancy.sessions = occupancy.sessions - 1
    local id = false
    local first, last = clients_range(client_id, client_id)
    if #rcall('ZRANGEBYLEX', c.index, first, last, 'LIMIT', 0, 1) == 0 then
      occupancy.clients = occupancy.clients - rcall('ZREM', c.clients, client_id)
      id = emit_channel_event(c, maxlen, pubsub, { type = 'leave', channel = channel, clientId = client_id,
        sessionId = session_id, node = node, reason = reason, at = at }, occupancy)
    end
    results[#results + 1] = 1
    results[#results + 1] = id
  end
end
if #leaving > 0 then rcall('HDEL', c.sessions, unpack(leaving)) end
if occupancy.version > seq then rcall('SET', c.seq, occupancy.version) end
local reply = { occupancy.clients, occupancy.sessions }
for i = 1, #results do reply[#reply + 1] = results[i] end
return reply
