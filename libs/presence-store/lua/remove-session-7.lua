--[[
  A session ended at its edge node (BYE, socket closed, heartbeat timeout, node shutdown).

  - `leave` and `timeout` end it now; if it was the client's last session, the client goes offline.
  - `closed` and `shutdown` with a grace > 0 leave it lingering: the record keeps the real end time
    and reason, and its deadline becomes end + grace. If the client comes back within the grace (a
    new session on any node) the lingering one is dropped silently; if not, the sweeper ends it and
    the offline event carries the real end time and reason.
  - A session Redis does not know (it restarted empty while the session was live) still makes its
    client offline, but only if no offline was recorded for the client since the session began, so
    a retried call can't write a second event.

  KEYS[1..7] as add-session: deadlines, client, meta, online, since, lastseen, events
  ARGV[1] sessionId  ARGV[2] clientId  ARGV[3] reason  ARGV[4] ended at (ms, Redis time as
  estimated by the edge) or ''  ARGV[5] grace (ms)  ARGV[6] node  ARGV[7] registered at (ms) or ''
  ARGV[8] events maxlen  ARGV[9] channel  ARGV[10] shard

  Returns { now, offline event id or false, 1 if the session existed else 0 }
]]
local rcall = redis.call
--- @include "now-ms"
--- @include "emit-event"
--- @include "go-offline"
--- @include "end-session"

local k = { deadlines = KEYS[1], client = KEYS[2], meta = KEYS[3], online = KEYS[4], since = KEYS[5],
  lastseen = KEYS[6], events = KEYS[7] }
local session_id, client_id, reason = ARGV[1], ARGV[2], ARGV[3]
local ended_at, grace, node, registered_at = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local maxlen, channel, shard = ARGV[8], ARGV[9], ARGV[10]

local now = now_ms()
local at = now
if ended_at and ended_at < now then at = ended_at end

local raw = rcall('HGET', k.client, session_id)
if not raw then
  -- Unknown here. Report it if Redis lost the client's state since the session was registered.
  if registered_at and rcall('HLEN', k.client) == 0 and not rcall('ZSCORE', k.online, client_id) then
    local seen = rcall('ZSCORE', k.lastseen, client_id)
    if not seen or tonumber(seen) < registered_at then
      if at < registered_at then at = registered_at end
      return { now, go_offline(k, client_id, session_id, node, reason, at, maxlen, channel, shard), 0 }
    end
  end
  return { now, false, 0 }
end

local record = cjson.decode(raw)
if record.endedAt then
  -- Already lingering: the first end wins.
  return { now, false, 1 }
end
if at < record.connectedAt then at = record.connectedAt end

if grace > 0 and (reason == 'closed' or reason == 'shutdown') then
  record.endedAt = at
  record.reason = reason
  rcall('HSET', k.client, session_id, cjson.encode(record))
  rcall('ZADD', k.deadlines, at + grace, session_id .. '|' .. client_id)
  return { now, false, 1 }
end

local result = end_session(k, session_id, client_id, reason, at, maxlen, channel, shard, record)
if result == false or result == 0 then
  return { now, false, 1 }
end
return { now, result, 1 }
