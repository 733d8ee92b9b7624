--- @include "go-offline"
--- @include "channel-outbox"

-- Drops an ended session's state and deadline: collected in `deferred` (one write per batch) when
-- the caller gives one, at once otherwise.
local function drop_session_keys(k, session_id, member, deferred)
  if deferred then
    deferred.meta[#deferred.meta + 1] = session_id
    deferred.deadlines[#deferred.deadlines + 1] = member
  else
    redis.call('HDEL', k.meta, session_id)
    redis.call('ZREM', k.deadlines, member)
  end
end

-- Decides, once one of a client's sessions has ended for good (at `at`), whether its other sessions
-- keep the client online. A live one does. A lingering one (ended by closed/shutdown, in its offline
-- grace) does only if it ended later than this one: then it decides the offline when its grace is
-- over. Lingering sessions that ended earlier are over for this client: they are removed here, with
-- no event, so that they neither delay the offline nor lend it their reason and time.
-- Returns true when the client stays online.
local function others_keep_online(k, client_id, at, deferred)
  local fields = redis.call('HGETALL', k.client)
  if #fields == 0 then return false end
  for i = 2, #fields, 2 do
    local ended_at = cjson.decode(fields[i]).endedAt
    if not ended_at or ended_at > at then return true end
  end
  for i = 1, #fields, 2 do
    local session_id = fields[i]
    local lingering = cjson.decode(fields[i + 1])
    outbox_channels(k.outbox, session_id, client_id, lingering, lingering.reason or 'expired', lingering.endedAt or at, 0)
    redis.call('HDEL', k.client, session_id)
    drop_session_keys(k, session_id, session_id .. '|' .. client_id, deferred)
  end
  return false
end

-- Ends one session of a client for good; the channels it had joined go to the outbox. If no other
-- session keeps the client online (see others_keep_online), the client goes offline: it leaves the
-- online set, its last-seen time is recorded and an offline event is written with this session's
-- reason and time.
-- Idempotent: a session that is already gone changes nothing and writes no event, so two racing
-- callers (two sweepers, an edge and a sweeper) produce one event between them.
--   k: { deadlines, client, meta, online, since, lastseen, events, outbox (false: no channel outbox) }
--   record (optional): the session's record as the caller already read and decoded it, or false
--     if the caller found none; nil to read it here.
--   deferred (optional): a table from new_deferred(); writes that no later step of the caller's
--     script reads (deadlines, meta, online, since, lastseen) are collected there and issued once
--     per batch by flush_deferred. nil writes them at once.
-- Returns: false when the session did not exist, 0 when it ended and the client stays online,
-- or the offline event's stream id.
local function end_session(k, session_id, client_id, reason, at, maxlen, channel, shard, record, deferred)
  local member = session_id .. '|' .. client_id
  if record == nil then
    local raw = redis.call('HGET', k.client, session_id)
    record = raw and cjson.decode(raw)
  end
  if not record then
    if deferred then deferred.deadlines[#deferred.deadlines + 1] = member
    else redis.call('ZREM', k.deadlines, member) end
    return false
  end
  redis.call('HDEL', k.client, session_id)
  outbox_channels(k.outbox, session_id, client_id, record, reason, at, 0)
  drop_session_keys(k, session_id, member, deferred)
  if others_keep_online(k, client_id, at, deferred) then
    return 0
  end
  return go_offline(k, client_id, session_id, record.node, reason, at, maxlen, channel, shard, deferred)
end
