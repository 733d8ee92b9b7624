--[[
  Ends a session that its edge node saw end (BYE, socket closed, heartbeat timeout).

  KEYS[1..7] as add-session: deadlines, client, meta, online, since, lastseen, events
  ARGV[1] sessionId  ARGV[2] clientId  ARGV[3] reason (leave|closed|timeout|shutdown)
  ARGV[4] events maxlen  ARGV[5] channel  ARGV[6] shard

  Returns { now, offline event id or false, 1 if the session existed else 0 }
]]
local rcall = redis.call
--- @include "now-ms"
--- @include "emit-event"
--- @include "end-session"

local k = { deadlines = KEYS[1], client = KEYS[2], meta = KEYS[3], online = KEYS[4], since = KEYS[5],
  lastseen = KEYS[6], events = KEYS[7] }
local session_id, client_id, reason = ARGV[1], ARGV[2], ARGV[3]
local maxlen, channel, shard = ARGV[4], ARGV[5], ARGV[6]

local now = now_ms()
local result = end_session(k, session_id, client_id, reason, now, maxlen, channel, shard)
if result == false then
  return { now, false, 0 }
end
if result == 0 then
  return { now, false, 1 }
end
return { now, result, 1 }
