-- Ends one session of a client for good. If it was the client's last session (lingering ones
-- count until they end), the client goes offline: it leaves the online set, its last-seen time is
-- recorded and an offline event is written.
-- Idempotent: a session that is already gone changes nothing and writes no event, so two racing
-- callers (two sweepers, an edge and a sweeper) produce one event between them.
--   k: { deadlines, client, meta, online, since, lastseen, events }
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
  if deferred then
    deferred.meta[#deferred.meta + 1] = session_id
    deferred.deadlines[#deferred.deadlines + 1] = member
  else
    redis.call('HDEL', k.meta, session_id)
    redis.call('ZREM', k.deadlines, member)
  end
  if redis.call('HLEN', k.client) > 0 then
    return 0
  end
  return go_offline(k, client_id, session_id, record.node, reason, at, maxlen, channel, shard, deferred)
end
