--[[
  Registers a session. If the client was offline it comes online and an online event is written.
  Sessions of the client that are lingering in their offline grace (ended by `closed` or
  `shutdown` moments ago) are removed silently: the client never looked offline, so no event.
  Re-registering a session that exists only renews its deadline (edges retry after errors).

  KEYS[1] deadlines  ZSET  member "<sessionId>|<clientId>", score = deadline (ms, Redis time)
  KEYS[2] client     HASH  sessionId -> {"node","connectedAt","ttl"[,"endedAt","reason"]}
  KEYS[3] meta       HASH  sessionId -> state JSON
  KEYS[4] online     ZSET  clientId, score 0 (ordered by id for paging)
  KEYS[5] since      HASH  clientId -> online since (ms)
  KEYS[6] lastseen   ZSET  clientId -> last seen (ms), offline clients only
  KEYS[7] events     STREAM

  ARGV[1] sessionId  ARGV[2] clientId  ARGV[3] node  ARGV[4] ttl (ms)
  ARGV[5] state JSON or ''  ARGV[6] events maxlen  ARGV[7] channel  ARGV[8] shard
  ARGV[9] most live sessions a client may have (0 = no limit)
  ARGV[10] the shard's channel outbox (STREAM, same hash tag; see includes/channel-outbox), or ''
  for none: a lingering session dropped here has its channels left once its grace would have ended

  Returns { now, online event id or false, error code or false }
  Error codes: 'too_many_sessions' (nothing was written)
]]
local rcall = redis.call
--- @include "now-ms"
--- @include "emit-event"
--- @include "channel-outbox"

local deadlines, client, meta, online, since, lastseen, events =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local session_id, client_id, node, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local state, maxlen, channel, shard = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local max_sessions = tonumber(ARGV[9])
local outbox = ARGV[10] ~= '' and ARGV[10]

local now = now_ms()
local member = session_id .. '|' .. client_id
if rcall('HEXISTS', client, session_id) == 1 then
  rcall('ZADD', deadlines, now + ttl, member)
  return { now, false, false }
end

local live = 0
local fields = rcall('HGETALL', client)
for i = 1, #fields, 2 do
  local record = cjson.decode(fields[i + 1])
  if record.endedAt then
    local lingering = fields[i] .. '|' .. client_id
    local grace_end = tonumber(rcall('ZSCORE', deadlines, lingering)) or now
    outbox_channels(outbox, fields[i], client_id, record, record.reason or 'closed', record.endedAt, grace_end)
    rcall('HDEL', client, fields[i])
    rcall('HDEL', meta, fields[i])
    rcall('ZREM', deadlines, fields[i] .. '|' .. client_id)
  else
    live = live + 1
  end
end
if max_sessions > 0 and live >= max_sessions then
  return { now, false, 'too_many_sessions' }
end

rcall('HSET', client, session_id, cjson.encode({ node = node, connectedAt = now, ttl = ttl }))
if state ~= '' then rcall('HSET', meta, session_id, state) end
rcall('ZADD', deadlines, now + ttl, member)
if rcall('ZSCORE', online, client_id) then
  return { now, false, false }
end

rcall('ZADD', online, 0, client_id)
rcall('HSET', since, client_id, now)
rcall('ZREM', lastseen, client_id)
local id = emit_event(events, maxlen, channel, shard, {
  type = 'online', clientId = client_id, sessionId = session_id, node = node, reason = false, at = now })
return { now, id, false }
