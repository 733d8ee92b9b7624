--[[
  Removes up to LIMIT sessions whose deadline has passed and forgets last-seen times older than the
  last-seen TTL. A live session past its deadline lost its edge node: it ends as `expired`, at the
  last time its node vouched for it (deadline - ttl: its latest refresh), the latest moment it is
  known to have been there. A lingering session (ended by `closed`/`shutdown`, its grace now over)
  ends with its own reason and end time. Which session's end takes the client offline is decided by
  end_session (the one that ended last). Bounded work per call, whatever the backlog; the caller
  repeats while `more` is 1. The batch's writes to deadlines, meta, online, since and lastseen are
  issued once per call (deferred-writes), not once per session. Client keys are derived from
  ARGV[1], which carries the shard's hash tag, so every key touched lives in the same slot.

  KEYS[1] deadlines  KEYS[2] meta  KEYS[3] online  KEYS[4] since  KEYS[5] lastseen  KEYS[6] events
  ARGV[1] client key prefix ("<prefix>:{sN}:client:")  ARGV[2] limit  ARGV[3] events maxlen
  ARGV[4] channel  ARGV[5] shard  ARGV[6] last-seen TTL (ms), or 0 to leave last-seen times alone
  this call (the sweeper trims them far less often than it sweeps)
  ARGV[7] not after (ms, Redis time) or '': a call that reaches Redis later than this (it waited in a
  client's queue through an outage, or Redis stalled) sweeps nothing: the deadlines it would expire
  may have passed only because edges could not renew them meanwhile
  ARGV[8] the shard's channel outbox (STREAM, same hash tag; includes/channel-outbox) or '': the
  channels of every session ended here are left from there

  An idle shard costs one ZRANGE: the earliest deadline is looked at before anything else.

  Returns { now, sessions removed, clients gone offline, more (1 if the limit was reached),
  earliest deadline left in the shard (ms; -1 when it holds no session), 1 if it came too late }:
  the sweeper sleeps until that deadline rather than polling.
]]
local rcall = redis.call
--- @include "now-ms"
--- @include "deferred-writes"
--- @include "end-session"

local deadlines, meta, online, since, lastseen, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local client_prefix, limit, maxlen = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local channel, shard, lastseen_ttl, not_after = ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])

local now = now_ms()
if not_after and now > not_after then return { now, 0, 0, 0, -1, 1 } end

-- Returns the earliest deadline of the shard, or -1 when it holds no session.
local function earliest_deadline()
  local first = rcall('ZRANGE', deadlines, 0, 0, 'WITHSCORES')
  if first[2] == nil then return -1 end
  return tonumber(first[2])
end

local next_deadline = earliest_deadline()
local expired = {}
if next_deadline ~= -1 and next_deadline <= now then
  expired = rcall('ZRANGEBYSCORE', deadlines, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
end
local offline = 0
local k = { deadlines = deadlines, client = false, meta = meta, online = online, since = since, lastseen = lastseen,
  events = events, outbox = ARGV[8] ~= nil and ARGV[8] ~= '' and ARGV[8] }
local deferred = new_deferred()
for i = 1, #expired, 2 do
  local member, deadline = expired[i], tonumber(expired[i + 1])
  local bar = string.find(member, '|', 1, true)
  local session_id, client_id = string.sub(member, 1, bar - 1), string.sub(member, bar + 1)
  k.client = client_prefix .. client_id
  local reason, at = 'expired', now
  local raw = rcall('HGET', k.client, session_id)
  local record = false
  if raw then
    record = cjson.decode(raw)
    if record.endedAt then reason, at = record.reason, record.endedAt
    else at = math.max(record.connectedAt, deadline - record.ttl) end
  end
  local result = end_session(k, session_id, client_id, reason, at, maxlen, channel, shard, record, deferred)
  if result ~= false and result ~= 0 then offline = offline + 1 end
end
if #expired > 0 then
  flush_deferred(k, deferred)
  next_deadline = earliest_deadline()
end

local forgotten = {}
if lastseen_ttl > 0 then
  forgotten = rcall('ZRANGEBYSCORE', lastseen, '-inf', now - lastseen_ttl, 'LIMIT', 0, limit)
  if #forgotten > 0 then rcall('ZREM', lastseen, unpack(forgotten)) end
end

local more = 0
if #expired == 2 * limit or #forgotten == limit then more = 1 end
return { now, #expired / 2, offline, more, next_deadline, 0 }
